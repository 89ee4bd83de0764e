"""CSV cells a spreadsheet would run as formulas are written as text (OWASP CSV injection)."""

import pytest

from keisei_fields.spreadsheet import neutralise_cell


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://x","y")',
        "+1+1",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1",
        "\r=1",
        "=cmd|' /C calc'!A0",
    ],
)
def test_a_cell_that_starts_a_formula_is_prefixed_with_an_apostrophe(text):
    assert neutralise_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["losses/policy_loss", "", "a=b", "run 7 - baseline", "'x"])
def test_an_ordinary_cell_is_left_as_it_is(text):
    assert neutralise_cell(text) == text
