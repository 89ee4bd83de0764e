"""Running the installed ``keisei`` console script as a user would, in a home of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

KEISEI = str(Path(sys.executable).parent / "keisei")


def cli_env(home: Path, *, url: str | None = None, token: str | None = None) -> dict[str, str]:
    """The environment of a user with config dir ``home``: no KEISEI_* of the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEISEI_")}
    env["XDG_CONFIG_HOME"] = str(home)
    env["COLUMNS"] = "200"  # tables unwrapped, for the assertions that read them
    if url is not None:
        env["KEISEI_URL"] = url
    if token is not None:
        env["KEISEI_TOKEN"] = token
    return env


def keisei(
    *args: str,
    home: Path,
    url: str | None = None,
    token: str | None = None,
    extra: dict[str, str] | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """``keisei ARGS`` to completion, its output captured."""
    return subprocess.run(
        [KEISEI, *args],
        capture_output=True,
        text=True,
        env={**cli_env(home, url=url, token=token), **(extra or {})},
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    """``watch --json`` output: one JSON object a line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
