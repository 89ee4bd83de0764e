"""PostgreSQL advisory locks, with every key named in one place.

Keys share one number space across the whole database: ``enum.unique`` makes two locks that
were given the same key fail at import, instead of silently serialising each other.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator

from django.db import connection


@enum.unique
class AdvisoryLock(enum.IntEnum):
    # Claims of queued runs, so "highest priority first" and per-user running limits hold
    # across workers without row-lock gymnastics (claims are rare).
    RUN_CLAIM = 0x6B656973  # "keis"
    # One league round at a time across every worker.
    LEAGUE_ROUND = 0x4B454953  # "KEIS"


def advisory_xact_lock(lock: AdvisoryLock) -> None:
    """Wait for ``lock``, held until the current transaction ends (call inside one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int(lock)])


@contextlib.contextmanager
def advisory_lock_try(lock: AdvisoryLock) -> Iterator[bool]:
    """Take ``lock`` for this session if free; yields whether it was taken, and releases it
    on the way out if so."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [int(lock)])
        (taken,) = cursor.fetchone()
    try:
        yield bool(taken)
    finally:
        if taken:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [int(lock)])
