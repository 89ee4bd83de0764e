"""What commands print: rich tables for people, JSON for scripts (``--json``).

Tables go to stdout; progress bars, notes and errors to stderr, so ``keisei game ... > a.kif``
and ``keisei runs --json | jq`` get only the answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Indented JSON on stdout, plain (no colour codes) so any parser reads it."""
    print(json.dumps(data, indent=2, ensure_ascii=False))


def print_json_line(data: Any) -> None:
    """One JSON object per line (``watch --json``), flushed at once for a pipe."""
    print(json.dumps(data, ensure_ascii=False), flush=True)


def cell(value: Any) -> str:
    """A value as a table shows it: blank for nothing, 3 significant digits for floats."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def when(value: str | None) -> str:
    """An ISO timestamp cut to the minute (``2026-11-30 14:02``)."""
    return value[:16].replace("T", " ") if value else "-"


def when_epoch(seconds: float | None) -> str:
    """Seconds since the epoch in UTC to the second (``2026-11-30 14:02:07``), as the
    server's own timestamps are shown."""
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    """A table on stdout."""
    shown = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*(cell(value) for value in row))
    out.print(shown)


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """Name and value, one pair a line (``keisei show``, ``keisei me``)."""
    shown = Table(show_header=False, box=None, pad_edge=False)
    shown.add_column(style="bold")
    shown.add_column(overflow="fold")
    for name, value in pairs:
        shown.add_row(name, cell(value))
    out.print(shown)


def note(text: str) -> None:
    """A remark for people, on stderr."""
    err.print(text, markup=False)


def size(value: Any) -> str:
    """A byte count as people read it (1.5 GiB); ``-`` when unknown."""
    if not isinstance(value, int | float):
        return "-"
    amount = float(value)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"  # not reached: the loop returns at TiB


def progress_text(run: dict[str, Any]) -> str:
    """``40%`` or ``-``: a run's progress as a table cell."""
    progress = run.get("progress")
    return f"{progress * 100:.0f}%" if isinstance(progress, (int, float)) else "-"
