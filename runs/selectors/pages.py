"""Reads for the run and compare pages: compare charts, configuration sections and their
diffs, the timeline."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from keisei.registry import UnknownTrainer, get_trainer
from monitoring.history import compare_run_ids, metric_compare, metric_keys
from monitoring.models import RunEvent
from monitoring.selectors import event_as_message
from runs import access
from runs.models import (
    Run,
)

# ----- compare --------------------------------------------------------------------------------


def runs_to_compare(*, user: Any, raw_ids: Iterable[str]) -> list[Run]:
    """The runs named by ``raw_ids`` (ids, or comma-separated lists of them), in that order
    and once each. ``CompareRefused`` for ids that are not integers or too many of them;
    ``NotFound`` if any is not one ``user`` may see (which, is not said)."""
    parts = [part.strip() for raw in raw_ids for part in raw.split(",")]
    ids = compare_run_ids(part for part in parts if part)
    return access.runs_for_viewer(user=user, run_ids=ids)


COMPARE_MAX_POINTS = 1000


def compare_chart(
    *, runs: list[Run], key: str, preferred: Sequence[str]
) -> tuple[list[str], dict[str, Any]]:
    """Every metric key of ``runs``, and the chart of one of them: ``key`` if they have it,
    else the first of ``preferred`` they have, else the first key; each run downsampled on
    its own to at most ``COMPARE_MAX_POINTS``."""
    keys = sorted({k["key"] for run in runs for k in metric_keys(run_id=run.pk)})
    if key not in keys:
        key = next((k for k in preferred if k in keys), keys[0] if keys else "")
    series = (
        metric_compare(run_ids=[r.pk for r in runs], key=key, max_points=COMPARE_MAX_POINTS)
        if key
        else {}
    )
    empty: dict[str, list[Any]] = {"step": [], "value": []}
    chart = {
        "key": key,
        "max_points": COMPARE_MAX_POINTS,
        "runs": [
            {"id": run.pk, "name": run.display_name, **_steps_and_values(series.get(run.pk), empty)}
            for run in runs
        ],
    }
    return keys, chart


def _steps_and_values(series: Any, empty: dict[str, list[Any]]) -> dict[str, list[Any]]:
    if series is None:
        return empty
    drawn = series.as_dict()  # non-finite values become None, as JSON needs
    return {"step": drawn["step"], "value": drawn["value"]}


# ----- the run page: configuration, timeline; the compare page's config diff -------------------


def _config_schema(trainer: str) -> dict[str, Any]:
    """The trainer's config JSON Schema, or an empty one for an unknown trainer."""
    try:
        return get_trainer(trainer).config_schema()
    except UnknownTrainer:
        return {}


def _config_fields(trainer: str) -> dict[str, dict[str, Any]]:
    """The trainer's config fields (JSON Schema properties)."""
    return dict(_config_schema(trainer).get("properties", {}))


def run_config_sections(run: Run) -> list[dict[str, Any]]:
    """The run's configuration in the sections the new-run form uses (the schema's ``x-group``,
    ``keisei.config_layout``), each field with its value, the trainer's default and whether it
    differs from it. Runs do not store the preset they were queued from, so the comparison is
    with the defaults only. Fields in no section (or stored but not in the schema): "Other"."""
    config = dict(run.config or {})
    schema = _config_schema(run.trainer)
    fields = dict(schema.get("properties", {}))
    sections: dict[str, list[dict[str, Any]]] = {title: [] for title in schema.get("x-groups", [])}
    for name in list(fields) + sorted(set(config) - set(fields)):
        prop = fields.get(name, {})
        has_default = "default" in prop
        section = sections.setdefault(prop.get("x-group", "Other"), [])
        section.append(
            {
                "name": name,
                "label": prop.get("title", name),
                "help": prop.get("description", ""),
                "value": config.get(name, prop.get("default")),
                "default": prop.get("default"),
                "has_default": has_default,
                "advanced": bool(prop.get("x-advanced")),
                "changed": name in config and (not has_default or config[name] != prop["default"]),
            }
        )
    return [
        {"title": t, "fields": f, "changed": sum(x["changed"] for x in f)}
        for t, f in sections.items()
        if f
    ]


def compare_config_diff(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """The configuration fields whose values differ between ``runs`` (the trainer first), each
    run's value as it trains with it (a field it does not set: the trainer's default)."""
    effective = []
    labels: dict[str, str] = {}
    for run in runs:
        fields = _config_fields(run.trainer)
        values = {name: prop.get("default") for name, prop in fields.items()}
        values.update(run.config or {})
        values["trainer"] = run.trainer
        labels.update({name: prop.get("title", name) for name, prop in fields.items()})
        effective.append(values)
    names = ["trainer"] + sorted({n for v in effective for n in v} - {"trainer"})
    missing = object()
    rows = []
    for name in names:
        row = [v.get(name, missing) for v in effective]
        if len({repr(v) for v in row}) > 1:
            rows.append(
                {
                    "name": name,
                    "label": labels.get(name, name.replace("_", " ").capitalize()),
                    "values": ["—" if v is missing else v for v in row],
                }
            )
    return rows


TIMELINE_PAGE = 50


def run_timeline_page(
    run: Run, *, before_seq: int | None = None, limit: int = TIMELINE_PAGE
) -> dict[str, Any]:
    """The run's newest ``limit`` events before ``before_seq`` (all: the newest), newest first,
    as the WebSocket sends them; ``older`` is the seq to ask before next, or None at the start."""
    events = RunEvent.objects.filter(run_id=run.pk)
    if before_seq is not None:
        events = events.filter(seq__lt=before_seq)
    page = list(events.order_by("-seq")[: limit + 1])
    shown = page[:limit]
    return {
        "events": [event_as_message(e) for e in shown],
        "older": shown[-1].seq if len(page) > limit else None,
        "last_seq": page[0].seq if page and before_seq is None else None,
    }
