"""The run form, built from the trainer's config JSON Schema so the page never drifts from it."""

from __future__ import annotations

from typing import Any

from django import forms

from keisei.registry import get_trainer
from runs import services
from runs.pages import form_submit

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
    low, high = spec.get("minimum"), spec.get("maximum")
    if kind == "integer":
        return forms.IntegerField(min_value=low, max_value=high, **common)
    if kind == "number":
        return forms.FloatField(min_value=low, max_value=high, **common)
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
        cleaned = super().clean() or {}
        config = {k: cleaned[k] for k in self.config_fields if cleaned.get(k) is not None}
        validated = form_submit(
            self,
            lambda: services.config_validate(trainer=self.trainer, config=config),
            prefix=CONFIG_PREFIX,
        )
        if validated is not None:
            cleaned["config"] = validated
        return cleaned


class CommandForm(forms.Form):
    """The run page's steering buttons: a command kind, and for ``sample`` and ``evaluate``
    the parameters the page offers. The service checks the rest (state, opponent)."""

    kind = forms.CharField(max_length=20)
    opponent = forms.CharField(max_length=80, required=False)
    temperature = forms.FloatField(required=False, error_messages={"invalid": "must be a number"})
    games = forms.IntegerField(required=False, error_messages={"invalid": "must be a whole number"})
    max_plies = forms.IntegerField(
        required=False, error_messages={"invalid": "must be a whole number"}
    )

    # Which parameters each kind takes; other kinds take none.
    PARAMS = {
        "sample": ("opponent", "temperature", "max_plies"),
        "evaluate": ("opponent", "temperature", "games", "max_plies"),
    }

    def params(self) -> dict[str, Any]:
        """The filled-in parameters of the chosen kind (after ``is_valid()``)."""
        names = self.PARAMS.get(self.cleaned_data["kind"], ())
        return {n: self.cleaned_data[n] for n in names if self.cleaned_data[n] not in (None, "")}

    def refusal(self) -> str:
        """The form's errors in one line, each named by its field."""
        return "; ".join(
            f"{name}: {' '.join(str(r) for r in reasons)}" for name, reasons in self.errors.items()
        )
