"""Personal API tokens: knox's hashed token, with a name, a use time and a revocation time.

Only a hash of the key is stored (knox's ``digest``, SHA-512); its first characters
(``token_key``, the prefix) are kept in clear to find the row and to let a person tell their
tokens apart. A revoked or expired token keeps its row, so a refusal can say which it was.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from knox.models import AbstractAuthToken  # type: ignore[import-untyped]
from knox.settings import CONSTANTS  # type: ignore[import-untyped]


class ApiToken(AbstractAuthToken):
    # knox makes the digest the primary key; an id of our own keeps the hash out of URLs.
    # (Annotated by hand: the plugin cannot see through knox's untyped base.)
    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    digest: models.CharField[str, str] = models.CharField(
        max_length=CONSTANTS.DIGEST_LENGTH, unique=True
    )
    name: models.CharField[str, str] = models.CharField(max_length=80)
    last_used_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    revoked_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )

    class Meta:
        verbose_name = "API token"
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_key}…) of {self.user}"

    @property
    def prefix(self) -> str:
        """The key's first characters, shown so a person can tell their tokens apart."""
        return self.token_key
