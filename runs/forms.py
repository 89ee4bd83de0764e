"""The run form, built from the trainer's config JSON Schema so the page never drifts from it."""

from __future__ import annotations

from typing import Any

from django import forms

from keisei.registry import get_trainer
from runs import services

CONFIG_PREFIX = "config."


def _field_for(name: str, spec: dict[str, Any], required_names: set[str]) -> forms.Field:
    label = spec.get("title") or name.replace("_", " ").capitalize()
    common: dict[str, Any] = {
        "label": label,
        "help_text": spec.get("description", ""),
        "required": name in required_names,
        "initial": spec.get("default"),
    }
    if "enum" in spec:
        return forms.ChoiceField(choices=[(v, v) for v in spec["enum"]], **common)
    kind = spec.get("type")
    bounds = {"min_value": spec.get("minimum"), "max_value": spec.get("maximum")}
    if kind == "integer":
        return forms.IntegerField(**bounds, **common)
    if kind == "number":
        return forms.FloatField(**bounds, **common)
    if kind == "boolean":
        common["required"] = False
        return forms.BooleanField(**common)
    return forms.CharField(max_length=spec.get("maxLength"), **common)


class RunForm(forms.Form):
    """A name plus one field per config field; the trainer's own validation has the last word."""

    name = forms.CharField(max_length=120, required=False, help_text="optional; shown in lists")

    def __init__(self, *args: Any, trainer: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trainer = trainer
        schema = get_trainer(trainer).config_schema()
        required_names = set(schema.get("required", []))
        for name, spec in schema.get("properties", {}).items():
            if "enum" not in spec and "$ref" in spec:
                ref = spec["$ref"].rsplit("/", 1)[-1]
                spec = {**schema.get("$defs", {}).get(ref, {}), **spec}
            self.fields[name] = _field_for(name, spec, required_names)
        self.config_fields = list(schema.get("properties", {}))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        config = {k: cleaned[k] for k in self.config_fields if cleaned.get(k) is not None}
        try:
            cleaned["config"] = services.config_validate(trainer=self.trainer, config=config)
        except services.RunConfigError as exc:
            for path, reasons in exc.errors.items():
                field = path.removeprefix(CONFIG_PREFIX).split(".")[0]
                self.add_error(field if field in self.fields else None, "; ".join(reasons))
        return cleaned
