"""An artifact store that can be full, for the disk-full tests: local storage whose next N
writes fail, as a real store fails. The file ``KEISEI_TEST_STORE_FULL_FILE`` names holds
``<how> <N>`` and is counted down, so every process given it sees the same budget:

- ``full``: the write fails with ENOSPC after half the file landed, as a full disk leaves it;
- ``short``: the write "succeeds" with half the file stored (a store that lost the rest).

A worker uses it through ``tests.support.full_store_settings`` (``DJANGO_SETTINGS_MODULE``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any, Literal

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

FULL_FILE_VARIABLE = "KEISEI_TEST_STORE_FULL_FILE"


def store_fails_next(full_file: Path, *, writes: int, how: Literal["full", "short"]) -> None:
    """The next ``writes`` writes fail, in every process whose ``KEISEI_TEST_STORE_FULL_FILE``
    names ``full_file``."""
    full_file.write_text(f"{how} {writes}")


class FullStoreStorage(FileSystemStorage):
    def _save(self, name: str, content: Any) -> str:
        how = _take_a_failure()
        if how is None:
            return super()._save(name, content)
        data = content.read()
        half = data[: len(data) // 2]
        if how == "short":
            return super()._save(name, ContentFile(half))
        full_path = Path(self.path(name))
        full_path.parent.mkdir(parents=True, exist_ok=True)
        with open(full_path, "xb") as fh:
            fh.write(half)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(full_path))


def _take_a_failure() -> str | None:
    path = os.environ.get(FULL_FILE_VARIABLE)
    if not path or not os.path.exists(path):
        return None
    how, _, left = Path(path).read_text().partition(" ")
    if not left or int(left) <= 0:
        return None
    Path(path).write_text(f"{how} {int(left) - 1}")
    return how
