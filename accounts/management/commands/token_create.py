"""``manage.py token_create <username> [--name N] [--days D | --no-expiry]``: a personal API
token, its key printed once (only its hash is stored)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import services


class Command(BaseCommand):
    help = "Create a personal API token for a user and print its key (shown this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="shell", help="What the token is for.")
        parser.add_argument(
            "--days",
            type=int,
            default=services.EXPIRY_DAYS_DEFAULT,
            help=f"Days until it expires ({services.EXPIRY_DAYS_MIN}.."
            f"{services.EXPIRY_DAYS_MAX}, default {services.EXPIRY_DAYS_DEFAULT}).",
        )
        parser.add_argument("--no-expiry", action="store_true", help="A token that never expires.")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"username: no user {options['username']!r}") from None
        days = None if options["no_expiry"] else options["days"]
        try:
            token, key = services.token_create(
                user=user, name=options["name"], expires_in_days=days
            )
        except ValidationError as invalid:
            reasons = "; ".join(f"{f}: {', '.join(r)}" for f, r in invalid.message_dict.items())
            raise CommandError(reasons) from None
        expiry = token.expiry.isoformat() if token.expiry else "never"
        self.stderr.write(
            f"Token {token.name!r} ({token.token_key}…) for {user}, expires {expiry}:"
        )
        self.stdout.write(key)
