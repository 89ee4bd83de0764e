"""``KEISEI_API_RATE`` as ``env.rate`` reads it: a DRF rate, ``off``, or a refusal naming it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from keisei_site import env


def test_a_rate_is_kept_and_off_means_none(monkeypatch):
    monkeypatch.delenv("RATE", raising=False)
    assert env.rate("RATE", "1200/min") == "1200/min"
    for raw, expected in (("30/s", "30/s"), (" 5000/hour ", "5000/hour"), ("off", None)):
        monkeypatch.setenv("RATE", raw)
        assert env.rate("RATE", "1200/min") == expected


@pytest.mark.parametrize("raw", ["fast", "0/min", "-3/min", "10/fortnight", "10"])
def test_a_bad_rate_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("RATE", raw)
    with pytest.raises(ImproperlyConfigured, match="RATE must be a rate"):
        env.rate("RATE", "1200/min")
