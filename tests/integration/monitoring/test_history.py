"""Metric history through the API: downsampling, ranges, comparison, CSV, access, bad input."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import urllib.request

import pytest
from django.db import connection

from monitoring import history, history_csv
from monitoring.models import MetricPoint, block_points
from monitoring.services import metrics_record
from runs.models import Run
from tests.support.refusals import fields

pytestmark = pytest.mark.django_db

LOSS = "losses/policy_loss"
KL = "losses/approx_kl"
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _run(owner) -> Run:
    return Run.objects.create(owner=owner, trainer="digits", config={})


def _record(run: Run, key: str, values: dict[int, float]) -> None:
    points = [(key, step, value, T0 + dt.timedelta(seconds=step)) for step, value in values.items()]
    assert metrics_record(run_id=run.pk, points=points) == len(points)


def _metrics(client, run: Run, **params):
    response = client.get(f"/api/v1/runs/{run.pk}/metrics/", params)
    assert response.status_code == 200, response.content
    return response.json()


def _csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


# ----- downsampling ---------------------------------------------------------------------------


def test_short_series_comes_back_whole_and_not_downsampled(owner, api_client):
    run = _run(owner)
    _record(run, LOSS, {step: 1.0 / step for step in range(1, 51)})

    body = _metrics(api_client(owner), run, keys=LOSS)

    assert body["run"] == run.pk
    assert body["downsampled"] is False
    series = body["series"][LOSS]
    assert series["downsampled"] is False
    assert series["points"] == 50
    assert series["step"] == list(range(1, 51))
    assert series["value"] == [1.0 / step for step in range(1, 51)]
    assert series["min"] == series["max"] == series["value"]
    assert series["count"] == [1] * 50


def test_long_series_fits_max_points_and_keeps_its_spikes(owner, api_client):
    run = _run(owner)
    values = {step: 0.5 for step in range(5000)}
    values[3777] = 100.0  # a spike up
    values[1234] = -50.0  # and one down
    _record(run, LOSS, values)

    body = _metrics(api_client(owner), run, keys=LOSS, max_points=100)

    assert body["downsampled"] is True
    series = body["series"][LOSS]
    assert 0 < len(series["step"]) <= 100
    assert series["points"] == sum(series["count"]) == 5000
    assert max(series["max"]) == 100.0
    assert min(series["min"]) == -50.0
    spike = next(i for i, high in enumerate(series["max"]) if high == 100.0)
    assert series["step"][spike] <= 3777 <= series["last_step"][spike]
    # Buckets are in step order, do not overlap, and span the whole series.
    assert series["step"][0] == 0 and series["last_step"][-1] == 4999
    for i in range(1, len(series["step"])):
        assert series["last_step"][i - 1] < series["step"][i]
    # First and last of each bucket are real points.
    assert all(
        value == values[step] for step, value in zip(series["step"], series["value"], strict=True)
    )
    assert all(
        value == values[step]
        for step, value in zip(series["last_step"], series["last"], strict=True)
    )


def test_start_and_end_bound_the_range_inclusively(owner, api_client):
    run = _run(owner)
    _record(run, LOSS, {step: float(step) for step in range(0, 20_000, 2)})

    whole = _metrics(api_client(owner), run, keys=LOSS, start=1000, end=1998)
    bucketed = _metrics(api_client(owner), run, keys=LOSS, start=1000, end=11_000, max_points=50)

    assert whole["series"][LOSS]["step"] == list(range(1000, 1999, 2))
    assert whole["downsampled"] is False
    series = bucketed["series"][LOSS]
    assert series["step"][0] == 1000 and series["last_step"][-1] == 11_000
    assert series["points"] == 5001
    assert min(series["min"]) == 1000.0 and max(series["max"]) == 11_000.0
    assert len(series["step"]) <= 50


def test_several_keys_each_downsampled_on_their_own(owner, api_client):
    run = _run(owner)
    _record(run, LOSS, {step: 1.0 for step in range(3000)})
    _record(run, KL, {step: 0.01 for step in range(0, 3000, 200)})

    body = _metrics(api_client(owner), run, keys=f"{LOSS},{KL},charts/missing", max_points=20)

    assert body["downsampled"] is True
    assert body["series"][LOSS]["downsampled"] is True
    assert body["series"][KL]["downsampled"] is False
    assert body["series"][KL]["step"] == list(range(0, 3000, 200))
    assert body["series"]["charts/missing"]["points"] == 0  # not written yet: empty, not an error


def test_without_keys_every_key_of_the_run_is_returned(owner, api_client):
    run = _run(owner)
    _record(run, LOSS, {1: 1.0, 2: 0.5})
    _record(run, KL, {2: 0.01})

    body = _metrics(api_client(owner), run)

    assert set(body["series"]) == {LOSS, KL}


def test_keys_endpoint_lists_each_key_with_its_step_range(owner, api_client):
    run = _run(owner)
    _record(run, LOSS, {step: 1.0 for step in range(5, 500)})
    _record(run, KL, {7: 0.01, 9: 0.02})
    _record(_run(owner), "charts/other_run", {1: 1.0})

    response = api_client(owner).get(f"/api/v1/runs/{run.pk}/metrics/keys/")

    assert response.status_code == 200
    assert response.json() == {
        "run": run.pk,
        "keys": [
            {"key": KL, "first_step": 7, "last_step": 9},
            {"key": LOSS, "first_step": 5, "last_step": 499},
        ],
    }


def test_non_finite_values_are_null_in_json(owner, api_client):
    run = _run(owner)
    _record(run, LOSS, {1: 1.0, 2: math.nan, 3: math.inf, 4: 2.0})

    series = _metrics(api_client(owner), run, keys=LOSS)["series"][LOSS]

    assert series["value"] == [1.0, None, None, 2.0]


def test_bucket_query_reads_one_range_of_the_blocks_primary_key(owner):
    run = _run(owner)
    _record(run, LOSS, {step: 1.0 for step in range(20_000)})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_metricblock")
        cursor.execute(
            "EXPLAIN " + history._BUCKETS_SQL,
            {"run": run.pk, "key": LOSS, "start": 10_000, "end": 11_999, "first": 0, "width": 20},
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # The blocks of the range only: an index range scan on (run, key, first_step) bounded at
    # both ends, no sequential scan and no scan of the whole series.
    assert "monitoring_metricblock_pkey" in plan, plan
    assert "(first_step >= " in plan and "(first_step <= " in plan, plan
    assert "Seq Scan" not in plan, plan


# ----- comparison -----------------------------------------------------------------------------


def test_compare_puts_one_key_of_several_runs_side_by_side(owner, api_client):
    first, second = _run(owner), _run(owner)
    _record(first, LOSS, {step: 1.0 for step in range(10)})
    _record(second, LOSS, {step: 2.0 for step in range(5000)})

    response = api_client(owner).get(
        "/api/v1/metrics/compare/",
        {"runs": f"{first.pk},{second.pk}", "key": LOSS, "max_points": 100},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["key"] == LOSS and body["runs"] == [first.pk, second.pk]
    assert body["downsampled"] is True
    assert body["series"][str(first.pk)]["value"] == [1.0] * 10
    assert body["series"][str(second.pk)]["points"] == 5000
    assert len(body["series"][str(second.pk)]["step"]) <= 100


def test_compare_with_a_run_you_may_not_see_is_404(owner, outsider, api_client):
    mine, theirs = _run(owner), _run(outsider)
    _record(theirs, LOSS, {1: 42.0})

    response = api_client(owner).get(
        "/api/v1/metrics/compare/", {"runs": f"{mine.pk},{theirs.pk}", "key": LOSS}
    )

    assert response.status_code == 404
    assert b"42" not in response.content


# ----- CSV export -----------------------------------------------------------------------------


def test_csv_export_round_trips_every_point(owner, api_client):
    run = _run(owner)
    values = {step: math.sin(step) / 3.0 for step in range(3000)}
    values[5] = math.nan
    _record(run, LOSS, values)
    _record(run, KL, {1: 1e-300, 2: -0.0})

    response = api_client(owner).get(f"/api/v1/runs/{run.pk}/metrics.csv")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv_rows(response)
    assert rows[0] == ["key", "step", "value", "wall_time"]
    stored = list(
        MetricPoint.objects.filter(run=run)
        .order_by("key", "step")
        .values_list("key", "step", "value", "wall_time")
    )
    assert len(rows) - 1 == len(stored) == 3002
    for (key, step, value, wall), (c_key, c_step, c_value, c_wall) in zip(
        stored, rows[1:], strict=True
    ):
        assert (c_key, int(c_step)) == (key, step)
        parsed = float(c_value)
        assert parsed == value or (math.isnan(parsed) and math.isnan(value))
        assert dt.datetime.fromisoformat(c_wall) == wall


def test_csv_export_filters_keys_and_range(owner, api_client):
    run = _run(owner)
    _record(run, LOSS, {step: 1.0 for step in range(100)})
    _record(run, KL, {step: 2.0 for step in range(100)})

    response = api_client(owner).get(
        f"/api/v1/runs/{run.pk}/metrics.csv", {"keys": KL, "start": 10, "end": 19}
    )

    rows = _csv_rows(response)[1:]
    assert [(key, int(step)) for key, step, _, _ in rows] == [(KL, s) for s in range(10, 20)]


def test_csv_export_accepts_a_csv_accept_header(owner, api_client):
    run = _run(owner)
    _record(run, LOSS, {1: 1.0})

    response = api_client(owner).get(f"/api/v1/runs/{run.pk}/metrics.csv", HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert _csv_rows(response)[1][:3] == [LOSS, "1", "1"]


def _copy_csv(run: Run, where: str = "") -> bytes:
    """What PostgreSQL's own ``COPY ... (FORMAT csv)`` writes for the run's points."""
    statement = (
        "COPY (SELECT key, step, value, "
        "(wall_time AT TIME ZONE 'UTC') || 'Z' "
        f"FROM monitoring_metricpoint WHERE run_id = {run.pk} {where} ORDER BY key, step) "
        "TO STDOUT (FORMAT csv)"
    )
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        return b"".join(bytes(block) for block in copy)


@pytest.mark.parametrize("chunk_blocks", [1, 2, 64])
def test_csv_export_is_byte_for_byte_what_copy_csv_writes(owner, monkeypatch, chunk_blocks):
    """Keys that need quoting, NaN and infinities, sparse and negative steps, series that end
    exactly on a chunk boundary (2 full blocks with chunks of 1 and 2) and ones that do not
    (3 blocks and some), a range that starts and ends inside blocks."""
    monkeypatch.setattr(history_csv, "CSV_CHUNK_BLOCKS", chunk_blocks)
    run = _run(owner)
    full = block_points("many")
    _record(run, "many", {step: step * 0.5 for step in range(-3, 2 * full - 3)})
    _record(run, "more", {step: -step for step in range(3 * full + 5)})
    _record(run, "plain", {step: step / 3.0 for step in range(-5, 15)})
    _record(run, 'say "hi", twice', {1: math.nan, 2: math.inf, 3: -math.inf, 4: -0.0})
    _record(run, "two\nlines", {step: 1e-300 * step for step in range(0, 10_000, 1000)})
    _record(run, "", {7: 7.0})
    _record(run, "z/last", {step: 0.1 for step in range(23)})
    points = [("z/last", 99, 1.5, dt.datetime(2026, 11, 1, 0, 0, 0, 120, tzinfo=dt.UTC))]
    metrics_record(run_id=run.pk, points=points)

    whole = b"".join(history_csv.metric_csv_chunks(run_id=run.pk))
    some = b"".join(
        history_csv.metric_csv_chunks(
            run_id=run.pk, keys=["z/last", "plain", "many", "none"], start=0, end=full + 20
        )
    )

    header = b"key,step,value,wall_time\n"
    assert whole == header + _copy_csv(run)
    assert some == header + _copy_csv(
        run, f"AND key IN ('plain', 'z/last', 'many') AND step BETWEEN 0 AND {full + 20}"
    )


@pytest.mark.django_db(transaction=True)
def test_csv_export_streams_through_daphne(owner, daphne_server):
    """Under ASGI the export is an async stream (a sync one would be read whole first)."""
    from tests.support.tokens import api_token

    run = _run(owner)
    _record(run, LOSS, {step: step / 7.0 for step in range(20_000)})
    token = api_token(owner)
    request = urllib.request.Request(
        f"{daphne_server}/api/v1/runs/{run.pk}/metrics.csv",
        headers={"Authorization": f"Token {token}"},
    )

    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert response.headers.get("Transfer-Encoding") == "chunked"
        rows = list(csv.reader(io.StringIO(response.read().decode())))

    assert len(rows) == 20_001
    assert float(rows[-1][2]) == 19_999 / 7.0


# ----- access and bad input -------------------------------------------------------------------


def _every_endpoint(run_id: int) -> list[tuple[str, dict]]:
    return [
        (f"/api/v1/runs/{run_id}/metrics/", {"keys": LOSS}),
        (f"/api/v1/runs/{run_id}/metrics/keys/", {}),
        (f"/api/v1/runs/{run_id}/metrics.csv", {}),
        ("/api/v1/metrics/compare/", {"runs": str(run_id), "key": LOSS}),
    ]


def test_outsider_gets_404_on_every_endpoint(owner, outsider, api_client):
    run = _run(owner)
    _record(run, LOSS, {1: 1.0})
    client = api_client(outsider)
    for url, params in _every_endpoint(run.pk):
        response = client.get(url, params)
        assert response.status_code == 404, url
    # Exactly what a run that does not exist looks like.
    for url, params in _every_endpoint(run.pk + 1000):
        assert client.get(url, params).status_code == 404, url


def test_anonymous_client_is_refused_on_every_endpoint(owner, api_client):
    run = _run(owner)
    for url, params in _every_endpoint(run.pk):
        assert api_client().get(url, params).status_code in (401, 403), url


def test_staff_reads_anyones_history(owner, staff, api_client):
    run = _run(owner)
    _record(run, LOSS, {1: 1.0})
    client = api_client(staff)
    for url, params in _every_endpoint(run.pk):
        assert client.get(url, params).status_code == 200, url


@pytest.mark.parametrize(
    ("path", "params", "field", "reason"),
    [
        ("metrics/", {"start": "abc"}, "start", "must be an integer, got 'abc'"),
        ("metrics/", {"end": "1.5"}, "end", "must be an integer"),
        ("metrics/", {"start": "10", "end": "5"}, "end", "must not be below start"),
        ("metrics/", {"max_points": "5"}, "max_points", "between 10 and 10000, got 5"),
        ("metrics/", {"max_points": "10001"}, "max_points", "between 10 and 10000"),
        ("metrics/", {"max_points": "lots"}, "max_points", "must be an integer"),
        ("metrics/", {"keys": ",".join(f"k{i}" for i in range(21))}, "keys", "at most 20 keys"),
        ("metrics/", {"keys": "a,,b"}, "keys", "without empty items"),
        ("metrics/", {"keys": "x" * 101}, "keys", "at most 100 characters"),
        ("metrics.csv", {"start": "1e3"}, "start", "must be an integer"),
        ("metrics.csv", {"keys": ""}, "keys", "without empty items"),
        ("compare", {"key": LOSS}, "runs", "required"),
        ("compare", {"runs": "1,two", "key": LOSS}, "runs", "integers"),
        ("compare", {"runs": "{run}"}, "key", "required"),
        ("compare", {"runs": "{run}", "key": LOSS, "max_points": "0"}, "max_points", "between"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(owner, api_client, path, params, field, reason):
    run = _run(owner)
    url = "/api/v1/metrics/compare/" if path == "compare" else f"/api/v1/runs/{run.pk}/{path}"
    params = {name: value.replace("{run}", str(run.pk)) for name, value in params.items()}

    response = api_client(owner).get(url, params)

    assert response.status_code == 400, response.content
    errors = fields(response)
    assert list(errors) == [field]
    assert reason in errors[field][0]


def test_a_run_with_too_many_keys_asks_for_keys(owner, api_client):
    run = _run(owner)
    for i in range(21):
        _record(run, f"charts/k{i:02d}", {1: 1.0})

    response = api_client(owner).get(f"/api/v1/runs/{run.pk}/metrics/")

    assert response.status_code == 400
    assert "this run has 21 keys" in fields(response)["keys"][0]


# ----- the writer ------------------------------------------------------------------------------


def test_metrics_record_keeps_points_the_run_already_has(owner):
    run = _run(owner)
    assert metrics_record(run_id=run.pk, points=[(LOSS, 1, 1.0, T0), (LOSS, 2, 2.0, T0)]) == 2

    # A resume repeats step 2 and goes on; a batch may even repeat a point within itself.
    again = [(LOSS, 2, 99.0, T0), (LOSS, 3, 3.0, T0), (LOSS, 3, 33.0, T0)]
    assert metrics_record(run_id=run.pk, points=again) == 1
    naive = dt.datetime(2026, 11, 1, 12, 0)  # noqa: DTZ001 - a naive time is read as UTC
    assert metrics_record(run_id=run.pk, points=[(LOSS, 4, 4.0, naive)]) == 1

    stored = list(MetricPoint.objects.filter(run=run).order_by("step").values_list("step", "value"))
    assert stored == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]
    assert MetricPoint.objects.get(run=run, step=4).wall_time == naive.replace(tzinfo=dt.UTC)
