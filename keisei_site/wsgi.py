"""WSGI entry point (the portal is served by Daphne over ASGI; this is for tools that want WSGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keisei_site.settings")
application = get_wsgi_application()
