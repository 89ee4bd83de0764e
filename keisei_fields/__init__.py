"""Config fields as people type them: a TOML file, then ``key=value`` overrides.

The engine's headless CLI (``keisei-train train``) and the portal's client (``keisei submit``)
read them the same way. Neither may import the other (the engine imports no web client, the
client no engine), so the one reader lives here, on the standard library alone.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any


def read_config_fields(path: str | None, assignments: list[str] | None) -> dict[str, Any]:
    """Config fields from a TOML file, then ``key=value`` overrides (values parsed as JSON
    when they can be). ``ValueError`` says what is wrong."""
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data.update(tomllib.load(fh))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read config {path}: {exc}") from exc
    for item in assignments or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got '{item}'")
        try:
            data[key] = json.loads(value)
        except json.JSONDecodeError:
            data[key] = value
    return data
