"""How ``keisei watch`` shows a run: a live progress bar with the latest metrics for people,
or one JSON object a line for scripts (the socket's own messages)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol

from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from keisei_client import render

# The metrics a person reads at a glance; the rest are in `keisei compare` and on the page.
METRICS_SHOWN = 8


class View(Protocol):
    def __enter__(self) -> View: ...
    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def run(self, run: dict[str, Any]) -> None: ...
    def message(self, message: dict[str, Any]) -> None: ...
    def note(self, text: str) -> None: ...
    def finished(self, run_id: int, status: str) -> None: ...


class JsonView:
    """Every message as it came, one JSON object a line; a polled run as ``{"type": "run"}``."""

    def __enter__(self) -> JsonView:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def run(self, run: dict[str, Any]) -> None:
        render.print_json_line({"type": "run", "run": run["id"], "seq": None, "data": run})

    def message(self, message: dict[str, Any]) -> None:
        render.print_json_line(message)

    def note(self, text: str) -> None:
        render.note(text)

    def finished(self, run_id: int, status: str) -> None:
        return None


class LiveView:
    """A progress bar and a table of the latest metrics (on stderr); durable events as lines
    above them; the outcome on stdout."""

    def __init__(self, run_id: int) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("step {task.completed:.0f}/{task.total:.0f}"),
            TimeElapsedColumn(),
            console=render.err,
        )
        self.task: TaskID = self.progress.add_task(f"run {run_id}", total=None)
        self.run_id = run_id
        self.status = ""
        self.metrics: dict[str, tuple[int | None, Any]] = {}
        self.live = Live(self, console=render.err, refresh_per_second=4)

    def __rich__(self) -> RenderableType:
        if not self.metrics:
            return self.progress
        shown = Table(box=None, show_header=False, pad_edge=False)
        shown.add_column(style="dim")
        shown.add_column()
        shown.add_column(style="dim")
        for key in sorted(self.metrics)[:METRICS_SHOWN]:
            step, value = self.metrics[key]
            shown.add_row(key, render.cell(value), f"step {step}" if step is not None else "")
        return Group(self.progress, shown)

    def __enter__(self) -> LiveView:
        self.live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.live.stop()

    def _describe(self, status: str) -> None:
        self.status = status or self.status
        self.progress.update(self.task, description=f"run {self.run_id} {self.status}")

    def _step(self, step: Any, total: Any) -> None:
        if isinstance(total, int) and total > 0:
            self.progress.update(self.task, total=total)
        if isinstance(step, int):
            self.progress.update(self.task, completed=step)

    def run(self, run: dict[str, Any]) -> None:
        self._describe(str(run.get("status") or ""))
        self._step(run.get("step"), run.get("total_steps"))

    def message(self, message: dict[str, Any]) -> None:
        kind, data = message.get("type"), message.get("data") or {}
        if kind == "connected":
            run = data.get("run") or {}
            self._describe(str(run.get("status") or ""))
            self._step(run.get("step"), run.get("total"))
            for key, point in (data.get("metrics") or {}).items():
                self.metrics[key] = (point.get("step"), point.get("value"))
        elif kind == "progress":
            self._step(data.get("step"), data.get("total"))
        elif kind == "metrics":
            for key, value in (data.get("values") or {}).items():
                self.metrics[key] = (data.get("step"), value)
        elif kind == "status":
            self._describe(str(data.get("status") or ""))
            self.live.console.print(
                f"status: {data.get('message') or data.get('status')}", markup=False
            )
        elif kind == "error":
            self.note(f"server: {data.get('detail')}")
        elif message.get("seq") is not None:
            self.live.console.print(f"{kind}: {summary(data)}", markup=False)

    def note(self, text: str) -> None:
        self.live.console.print(text, style="dim", markup=False)

    def finished(self, run_id: int, status: str) -> None:
        render.out.print(f"Run {run_id} {status}.", markup=False)


def summary(data: dict[str, Any]) -> str:
    """A durable event in one line: its message, else its main fields."""
    if data.get("message"):
        return str(data["message"])
    if "checkpoint" in data:
        return f"checkpoint {data['checkpoint']} at step {data.get('step')} ({data.get('kind')})"
    if "command" in data:
        error = data.get("error") or ""
        return f"command {data['command']} {data.get('kind')} {data.get('state')} {error}".strip()
    return ", ".join(f"{k}={render.cell(v)}" for k, v in list(data.items())[:6])
