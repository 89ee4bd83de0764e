"""How a trainer's config reads in a form: a human label, a section and whether it is advanced.

A config model passes ``form_layout(...)`` as its ``json_schema_extra``; each property of its
JSON Schema then carries ``title`` (the label), ``x-group`` (the section) and, for the fields
most people leave alone, ``x-advanced: true``. Clients (the portal's run form) read only the
schema, never the model, so a third-party trainer lays its form out the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

# One section: its title and its fields as {name: label}, in form order.
Section = tuple[str, Mapping[str, str]]


def form_layout(
    sections: Sequence[Section], *, advanced: Sequence[str] = ()
) -> Callable[[dict[str, Any]], None]:
    """A ``json_schema_extra`` hook labelling, grouping and folding the config's fields."""
    placed = {name: (title, label) for title, fields in sections for name, label in fields.items()}
    folded = frozenset(advanced)
    unknown = folded - placed.keys()
    if unknown:
        raise ValueError(f"advanced fields not in any section: {sorted(unknown)}")

    def extra(schema: dict[str, Any]) -> None:
        properties = schema.get("properties", {})
        for name, spec in properties.items():
            if name not in placed:
                continue
            group, label = placed[name]
            spec["title"] = label
            spec["x-group"] = group
            if name in folded:
                spec["x-advanced"] = True
        schema["x-groups"] = [title for title, _ in sections]

    return extra
