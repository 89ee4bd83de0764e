"""JSON of metric series, written by orjson.

A 2000-point series is some 200 KB of floats: Python's json module took 6 of the 22 ms of a
history request writing them (cProfile, bench/history.py's 1M-point series); orjson writes the
same document, byte for byte the same numbers (shortest round-trip form), in well under one.
Non-finite values never reach it (the history selectors send them as null).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from django.utils.encoding import force_str
from django.utils.functional import Promise
from rest_framework.renderers import JSONRenderer


def _default(value: Any) -> Any:
    if isinstance(value, Promise):  # a lazily translated message in a refusal
        return force_str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class SeriesJSONRenderer(JSONRenderer):
    """DRF's JSON renderer (compact UTF-8, the same media type), by orjson."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)
