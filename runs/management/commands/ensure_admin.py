"""Create the first admin account, once. Credentials from the environment or printed once."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a superuser if none exists (KEISEI_ADMIN_USER / KEISEI_ADMIN_PASSWORD)."

    def handle(self, *args, **options) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("KEISEI_ADMIN_USER", "admin")
        password = os.environ.get("KEISEI_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email="", password=password)
        if "KEISEI_ADMIN_PASSWORD" in os.environ:
            self.stdout.write(f"created admin account '{username}' (password from the environment)")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"created admin account '{username}' with password: {password}\n"
                    "  (shown once; change it at /admin/password_change/)"
                )
            )
