"""The run form, built from the trainer's config JSON Schema so the page never drifts from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from django import forms

from keisei.registry import get_trainer
from runs import services
from runs.pages import form_submit

CONFIG_PREFIX = "config."


# One wording for every error on the run form: the trainer's own (pydantic's), so a field
# the form parses and a field the trainer checks read alike.
REQUIRED = "Field required"


@dataclass(frozen=True)
class ConfigField:
    """One config field as the form lays it out, with the value it is compared against."""

    field: forms.BoundField
    baseline: Any
    differs: bool


@dataclass
class Section:
    """A titled group of config fields; the advanced ones are folded."""

    title: str
    fields: list[ConfigField] = dataclass_field(default_factory=list)
    advanced: list[ConfigField] = dataclass_field(default_factory=list)

    @property
    def advanced_open(self) -> bool:
        """Unfolded when one of its fields has an error or differs from the baseline."""
        return any(f.field.errors or f.differs for f in self.advanced)


def _field_for(name: str, spec: dict[str, Any]) -> forms.Field:
    """A form field for one property. Values go to the trainer as typed (strings), so its
    validation words every error; only booleans are parsed here (an unticked box is False)."""
    label = spec.get("title") or name.replace("_", " ").capitalize()
    common: dict[str, Any] = {
        "label": label,
        "help_text": spec.get("description", ""),
        "required": False,
        "initial": spec.get("default"),
    }
    kind = spec.get("type")
    if kind == "boolean":
        return forms.BooleanField(**common)
    if "enum" in spec:
        choices = [(v, v) for v in spec["enum"]]
        return forms.CharField(widget=forms.Select(choices=choices), **common)
    if kind in ("integer", "number"):
        attrs: dict[str, Any] = {"step": "1" if kind == "integer" else "any"}
        for bound, attr in (("minimum", "min"), ("maximum", "max")):
            if bound in spec:
                attrs[attr] = spec[bound]
        return forms.CharField(widget=forms.NumberInput(attrs=attrs), **common)
    return forms.CharField(**common)


def _truthy(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("true", "on", "1")


def same_value(a: Any, b: Any) -> bool:
    """Whether a form value and a config value mean the same (``"0.001"`` and ``1e-3``)."""
    if isinstance(b, bool) or isinstance(a, bool):
        return _truthy(a) == _truthy(b)
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


class RunForm(forms.Form):
    """A name, tags and notes, plus one field per config field laid out by the trainer's
    schema (``title``, ``x-group``, ``x-advanced``: keisei.config_layout); the trainer's own
    validation has the last word on every config value."""

    name = forms.CharField(
        max_length=120,
        required=False,
        help_text="optional; shown in lists",
        error_messages={"max_length": "String should have at most 120 characters"},
    )
    tags = forms.CharField(
        required=False, help_text="optional; comma-separated, e.g. baseline, lr-sweep"
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(
        self, *args: Any, trainer: str, baseline: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.trainer = trainer
        schema = get_trainer(trainer).config_schema()
        self.groups: list[str] = list(schema.get("x-groups", []))
        self.specs: dict[str, dict[str, Any]] = {}
        for name, spec in schema.get("properties", {}).items():
            if "enum" not in spec and "$ref" in spec:
                ref = spec["$ref"].rsplit("/", 1)[-1]
                spec = {**schema.get("$defs", {}).get(ref, {}), **spec}
            self.specs[name] = spec
            self.fields[name] = _field_for(name, spec)
        self.config_fields = list(self.specs)
        defaults = {n: s.get("default") for n, s in self.specs.items()}
        self.baseline = {**defaults, **dict(baseline or {})}

    def _current(self, name: str) -> Any:
        bound = self[name]
        return bound.value() if self.is_bound else self.initial.get(name, bound.initial)

    def sections(self) -> list[Section]:
        """The config fields by section, in the schema's order; fields without a section
        (a trainer that declares none) under "Settings"."""
        for name in self.errors:  # said to assistive technology, not by colour alone
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{self[name].auto_id}-error"
        by_title: dict[str, Section] = {title: Section(title) for title in self.groups}
        for name, spec in self.specs.items():
            title = spec.get("x-group", "Settings")
            section = by_title.setdefault(title, Section(title))
            baseline = self.baseline.get(name)
            item = ConfigField(self[name], baseline, not same_value(self._current(name), baseline))
            (section.advanced if spec.get("x-advanced") else section.fields).append(item)
        return [s for s in by_title.values() if s.fields or s.advanced]

    def clean_tags(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        return [tag.strip() for tag in raw.split(",") if tag.strip()]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        config = {k: cleaned[k] for k in self.config_fields if k in cleaned}
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


class SharingForm(forms.Form):
    """The run page's Sharing card: public or not, and the users and groups it is shared with,
    each a comma-separated list that replaces the current one."""

    public = forms.BooleanField(required=False)
    users = forms.CharField(required=False, max_length=4000)
    groups = forms.CharField(required=False, max_length=4000)

    @staticmethod
    def names(raw: str) -> list[str]:
        return [name.strip() for name in raw.split(",") if name.strip()]

    def sharing(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "public": bool(data["public"]),
            "users": self.names(data["users"]),
            "groups": self.names(data["groups"]),
        }
