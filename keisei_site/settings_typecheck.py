"""The settings mypy's Django plugin reads: the real ones, with placeholder values for what
production must set (nothing is connected to while type-checking), so ``mypy`` runs as is."""

import os

os.environ.setdefault("SECRET_KEY", "type-check-only")
os.environ.setdefault("DATABASE_URL", "postgres://type-check@127.0.0.1/none")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

from keisei_site.settings import *  # noqa: E402,F403
