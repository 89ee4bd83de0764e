"""The run form as a browser sends it, for tests that post it."""

from __future__ import annotations

from typing import Any


def filled(page: Any, **changes: Any) -> dict[str, Any]:
    """The form as a browser would send it: every field at its shown value, with changes."""
    form = page.context["form"]
    data = {"trainer": form.trainer, "preset": page.context["preset"]}
    for name in form.config_fields:
        value = form.initial.get(name, form.fields[name].initial)
        if value is True:
            data[name] = "on"
        elif value is not None and value is not False:
            data[name] = str(value)
    return {**data, **changes}
