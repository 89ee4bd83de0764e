"""What the portal can train: its trainers, their presets and config fields."""

from __future__ import annotations

from typing import Any

import click

from keisei_client import render
from keisei_client.commands.common import Session, json_option, pass_session
from keisei_client.exits import Exit


@click.command()
@click.argument("name", required=False)
@json_option
@pass_session
def trainers(session: Session, name: str | None, as_json: bool) -> int:
    """The portal's trainers and their presets; with NAME, that trainer's config fields."""
    portal = session.portal()
    if name is None:
        listed = portal.request("GET", "trainers/")
        if as_json:
            render.print_json(listed)
            return Exit.OK
        render.table(
            ("trainer", "description", "capabilities", "presets"),
            (
                (
                    t["name"],
                    t.get("description"),
                    t.get("capabilities"),
                    sorted(t.get("presets") or {}),
                )
                for t in listed
            ),
        )
        return Exit.OK
    trainer = portal.request("GET", f"trainers/{name}/")
    if as_json:
        render.print_json(trainer)
        return Exit.OK
    schema: dict[str, Any] = trainer.get("config_schema") or {}
    presets = ", ".join(sorted(trainer.get("presets") or {})) or "-"
    render.table(
        ("field", "type", "default", "description"),
        (
            (
                field,
                spec.get("type") or _choices(spec),
                spec.get("default"),
                spec.get("description"),
            )
            for field, spec in (schema.get("properties") or {}).items()
        ),
        title=f"{trainer['name']}: --set FIELD=VALUE; presets: {presets}",
    )
    return Exit.OK


def _choices(spec: dict[str, Any]) -> str:
    """A field without a plain type: its allowed values (an enum) or its alternatives."""
    if "enum" in spec:
        return " | ".join(map(str, spec["enum"]))
    options = spec.get("anyOf") or spec.get("oneOf") or []
    return " | ".join(str(o.get("type") or o.get("const") or "?") for o in options) or "-"
