"""An artifact store that can be full, for the disk-full tests: local storage whose next N
writes fail with ENOSPC (N read from the file ``KEISEI_TEST_STORE_FULL_FILE`` names, and
counted down), each leaving half its file behind, as a real full disk does.

A worker uses it through ``tests.support.full_store_settings`` (``DJANGO_SETTINGS_MODULE``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage

FULL_FILE_VARIABLE = "KEISEI_TEST_STORE_FULL_FILE"


def store_full_for(full_file: Path, *, writes: int) -> None:
    """The next ``writes`` writes fail, in every process whose ``KEISEI_TEST_STORE_FULL_FILE``
    names ``full_file``."""
    full_file.write_text(str(writes))


class FullStoreStorage(FileSystemStorage):
    def _save(self, name: str, content: Any) -> str:
        if not _take_a_failure():
            return super()._save(name, content)
        full_path = Path(self.path(name))
        full_path.parent.mkdir(parents=True, exist_ok=True)
        data = content.read()
        with open(full_path, "xb") as fh:  # half the file lands, then the disk is full
            fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(full_path))


def _take_a_failure() -> bool:
    path = os.environ.get(FULL_FILE_VARIABLE)
    if not path or not os.path.exists(path):
        return False
    left = int(Path(path).read_text() or "0")
    if left <= 0:
        return False
    Path(path).write_text(str(left - 1))
    return True
