"""The access matrix's rows of the alerts routes (the vocabulary: tests/support/access_rows.py)."""

from __future__ import annotations

from tests.support.access_rows import AppRows

ROWS = AppRows()
