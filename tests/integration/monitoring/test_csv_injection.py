"""The metric CSV export writes string cells (keys) as text a spreadsheet will not run, and
numbers, negative ones included, as numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from monitoring.services import metrics_record
from runs.models import Run

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def test_metric_csv_neutralises_formula_keys_and_keeps_negative_values_numbers(owner, api_client):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    points = [(key, 1, -1.5, T0) for key in FORMULAS] + [("losses/policy_loss", 1, -1.5, T0)]
    assert metrics_record(run_id=run.pk, points=points) == len(points)

    response = api_client(owner).get(f"/api/v1/runs/{run.pk}/metrics.csv")

    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body, newline="")))[1:]
    by_key = {row[0]: row[1:] for row in rows}
    assert set(by_key) == {"'" + key for key in FORMULAS} | {"losses/policy_loss"}
    for key, (step, value, _wall) in by_key.items():
        assert not key.startswith(("=", "+", "-", "@", "\t", "\r")), key
        assert (step, value) == ("1", "-1.5"), key  # numbers stay numbers
