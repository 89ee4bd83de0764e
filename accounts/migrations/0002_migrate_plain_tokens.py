"""DRF's plain tokens (stored in clear) become hashed API tokens named "migrated", with the
same key, expiring 90 days after this migration: existing clients keep working until then.
The clear keys are deleted. There is no way back: the keys cannot be recovered from hashes
(docs/operations.md, "API tokens").
"""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone
from knox.crypto import hash_token  # type: ignore[import-untyped]
from knox.settings import CONSTANTS  # type: ignore[import-untyped]

MIGRATED_NAME = "migrated"
MIGRATED_DAYS = 90


def plain_tokens_to_hashed(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("accounts", "ApiToken")
    expiry = timezone.now() + timedelta(days=MIGRATED_DAYS)
    for plain in Token.objects.all().iterator():
        digest = hash_token(plain.key)
        if not ApiToken.objects.filter(digest=digest).exists():
            # A plain save: knox's manager (the real model's) would make a new key.
            ApiToken(
                user_id=plain.user_id,
                digest=digest,
                token_key=plain.key[: CONSTANTS.TOKEN_KEY_LENGTH],
                name=MIGRATED_NAME,
                expiry=expiry,
            ).save()
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(plain_tokens_to_hashed, migrations.RunPython.noop)]
