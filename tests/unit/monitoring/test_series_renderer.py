"""The history endpoints' orjson renderer writes what DRF's JSON renderer writes."""

from __future__ import annotations

import json

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from monitoring.renderers import SeriesJSONRenderer

SERIES = {
    "run": 7,
    "start": None,
    "downsampled": True,
    "series": {
        "losses/policy_loss": {
            "step": [0, 1, 2**53 + 1, -5],
            "value": [0.1 + 0.2, 1e-300, -0.0, 5e-324, 1.7976931348623157e308, None, 3.0],
        },
        "勝率/先手": {"step": [], "value": []},
    },
}


def test_the_same_document_and_the_same_numbers_as_drfs_renderer():
    ours = SeriesJSONRenderer().render(SERIES)
    theirs = JSONRenderer().render(SERIES)
    assert json.loads(ours) == json.loads(theirs)
    # Every float as its shortest round-trip form, as Python's repr writes it.
    assert b"0.30000000000000004" in ours and b"1e-300" in ours and b"-0.0" in ours
    assert "勝率/先手".encode() in ours  # UTF-8, not \\u escapes, like DRF's UNICODE_JSON


def test_refusal_messages_and_nothing_at_all():
    assert json.loads(SeriesJSONRenderer().render({"detail": gettext_lazy("Not found.")})) == {
        "detail": "Not found."
    }
    assert SeriesJSONRenderer().render(None) == b""
    with pytest.raises(TypeError, match="not JSON serializable"):
        SeriesJSONRenderer().render({"x": {1, 2}})
