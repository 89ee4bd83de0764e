"""``LOG_FORMAT`` as ``env.choice`` reads it: one of the words, or a refusal naming it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from keisei_site import env


def test_the_default_when_unset_and_a_word_in_any_case(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert env.choice("LOG_FORMAT", ("text", "json"), "text") == "text"
    monkeypatch.setenv("LOG_FORMAT", " JSON ")
    assert env.choice("LOG_FORMAT", ("text", "json"), "text") == "json"


def test_another_word_is_refused_naming_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "yaml")
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be one of text, json"):
        env.choice("LOG_FORMAT", ("text", "json"), "text")
