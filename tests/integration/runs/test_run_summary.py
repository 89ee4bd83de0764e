"""Every end of a run writes its summary: on the run row and as its last event, in the same
transaction as the end. Runs trained by a real worker (completed, stopped, failed), a run
cancelled in the queue, a run the reaper fails, a resumed run; who may read it."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.utils import timezone

from monitoring.models import EventType, MetricPoint, RunEvent
from monitoring.services import metrics_record
from runs import services
from runs.models import Checkpoint, Run, RunStatus
from tests.support.runs import running_run
from tests.support.waiting import wait_for

RUN_TIMEOUT = 180
ENDED = (RunStatus.COMPLETED, RunStatus.STOPPED, RunStatus.FAILED, RunStatus.CANCELLED)


def wait_ended(run: Run) -> Run:
    def ended() -> bool:
        run.refresh_from_db()
        return run.status in ENDED

    wait_for(ended, timeout=RUN_TIMEOUT, what=f"run {run.pk} to end")
    return run


def assert_summary_is_the_last_event(run: Run) -> RunEvent:
    """Exactly one summary event, the run's highest seq, carrying the stored summary."""
    summaries = list(RunEvent.objects.filter(run=run, type=EventType.SUMMARY))
    assert len(summaries) == 1, [e.message for e in summaries]
    last = RunEvent.objects.filter(run=run).order_by("-seq").first()
    assert last is not None and last.pk == summaries[0].pk, (last.type, last.message)
    previous = RunEvent.objects.filter(run=run, seq__lt=last.seq).order_by("-seq")
    assert any(e.type == EventType.STATUS and e.data["status"] == run.status for e in previous)
    data = dict(last.data)
    assert data == run.summary
    return last


def _points(run: Run, rows: list[tuple[str, int, float]]) -> None:
    wall = dt.datetime.now(dt.UTC)
    metrics_record(run_id=run.pk, points=[(k, s, v, wall) for k, s, v in rows])


def _checkpoint(run: Run, step: int, kind: str) -> Checkpoint:
    return Checkpoint.objects.create(
        run=run, step=step, kind=kind, file=f"x{step}{kind}.pt", size=1, sha256="0" * 64
    )


# ----- trained by a real worker ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_completed_digits_run_summary_names_its_best_step_and_checkpoint(
    celery_worker, owner, outsider, api_client, client
):
    run = services.run_queue(
        owner=owner,
        trainer="digits",
        config={"epochs": 6, "batch_size": 32, "checkpoint_every": 2},
    )
    wait_ended(run)
    assert run.status == RunStatus.COMPLETED, run.error
    summary = run.summary
    assert summary["status"] == "completed"
    assert summary["reason"] == "the budget was spent: 6 of 6 epochs"
    assert (summary["step"], summary["total"]) == (6, 6)
    assert summary["duration_s"] == pytest.approx(
        (run.finished_at - run.started_at).total_seconds(), abs=0.06
    )
    assert dt.datetime.fromisoformat(summary["finished_at"]) == run.finished_at

    # The best step is the argmax of the stored validation accuracy (the earliest of equals).
    accuracy = dict(
        MetricPoint.objects.filter(run=run, key="charts/val_accuracy").values_list("step", "value")
    )
    top = max(accuracy.values())
    best_step = min(step for step, value in accuracy.items() if value == top)
    best = summary["best"]
    assert (best["metric"], best["mode"], best["step"], best["value"]) == (
        "charts/val_accuracy",
        "max",
        best_step,
        top,
    )
    assert best["metrics"] == dict(
        MetricPoint.objects.filter(run=run, step=best_step).values_list("key", "value")
    )
    last = {
        k: v for k, v in MetricPoint.objects.filter(run=run, step=6).values_list("key", "value")
    }
    assert summary["final_metrics"] == last

    # The checkpoint at or nearest before the best step (digits writes no best-kind one).
    rows = list(Checkpoint.objects.filter(run=run).values_list("pk", "step", "kind"))
    before = [r for r in rows if r[1] <= best_step]
    expected = (
        max(before, key=lambda r: (r[1], r[0]))
        if before
        else next(r for r in rows if r[2] == "final")
    )
    chosen = summary["checkpoint"]
    assert (chosen["id"], chosen["step"], chosen["kind"]) == expected
    assert chosen["url"] == f"/runs/{run.pk}/checkpoints/{expected[0]}/download/"

    event = assert_summary_is_the_last_event(run)
    assert event.message.startswith("completed in ")
    assert f"best charts/val_accuracy {top:.4g} at step {best_step}" in event.message

    # The API answers it on the run and in the list, to those who may see the run only.
    detail = api_client(owner).get(f"/api/v1/runs/{run.pk}/")
    assert detail.status_code == 200
    assert detail.json()["summary"] == summary
    listed = api_client(owner).get("/api/v1/runs/").json()["results"]
    assert [r["summary"] for r in listed if r["id"] == run.pk] == [summary]
    assert api_client(outsider).get(f"/api/v1/runs/{run.pk}/").status_code == 404
    assert api_client(outsider).get("/api/v1/runs/").json()["results"] == []
    # The run page shows the card, its download link and a fork from that checkpoint.
    client.force_login(owner)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    card = page[
        page.index('id="run-summary"') : page.index("</section>", page.index('id="run-summary"'))
    ]
    assert " hidden" not in card.split(">", 1)[0]
    assert "the budget was spent: 6 of 6 epochs" in card
    assert chosen["url"] in card and f"checkpoint={chosen['id']}" in card
    client.force_login(outsider)
    assert client.get(f"/runs/{run.pk}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_stopped_run_summary_names_who_stopped_it(celery_worker, owner):
    run = services.run_queue(owner=owner, trainer="digits", config={"epochs": 500, "batch_size": 8})
    wait_for(
        lambda: MetricPoint.objects.filter(run=run, key="charts/val_accuracy").exists(),
        timeout=RUN_TIMEOUT,
        what="the first validation",
    )
    services.command_request(run=run, user=owner, kind="stop")
    wait_ended(run)
    assert run.status == RunStatus.STOPPED
    summary = run.summary
    assert summary["reason"] == "stopped by olivia"
    assert summary["step"] == run.step < 500
    assert summary["duration_s"] is not None and summary["duration_s"] > 0
    assert summary["best"]["metric"] == "charts/val_accuracy"
    assert summary["best"]["step"] <= run.step
    # The stop's final checkpoint, unless a periodic one sits at or before the best step.
    assert summary["checkpoint"] is not None
    assert summary["checkpoint"]["step"] <= max(summary["best"]["step"], run.step)
    event = assert_summary_is_the_last_event(run)
    assert event.message.startswith("stopped by olivia after ")


@pytest.mark.django_db(transaction=True)
def test_failed_run_summary_gives_the_errors_first_line(celery_worker, owner):
    run = services.run_queue(owner=owner, trainer="broken", config={"fail_at": 3})
    wait_ended(run)
    assert run.status == RunStatus.FAILED
    summary = run.summary
    assert summary["reason"] == "RuntimeError: the model diverged at step 3"
    # The test trainer names no best metric: no best step, the last metrics still.
    assert summary["best"] is None
    assert summary["final_metrics"] == {"losses/train_loss": 0.5}
    assert summary["checkpoint"] is None
    event = assert_summary_is_the_last_event(run)
    assert event.message.startswith("failed after ")
    assert event.message.endswith(": RuntimeError: the model diverged at step 3")


# ----- ends without a worker ------------------------------------------------------------------


@pytest.mark.django_db
def test_cancelled_run_summary_says_it_never_started_and_by_whom(owner, api_client):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    services.command_request(run=run, user=owner, kind="cancel")
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    summary = run.summary
    assert summary["reason"] == "cancelled before it started (by olivia)"
    assert (summary["started_at"], summary["duration_s"]) == (None, None)
    assert (summary["best"], summary["checkpoint"], summary["final_metrics"]) == (None, None, {})
    # After the cancel command's own "done" event: the summary is still the last.
    event = assert_summary_is_the_last_event(run)
    assert event.message == "cancelled before it started (by olivia)"
    assert api_client(owner).get(f"/api/v1/runs/{run.pk}/").json()["summary"] == summary


@pytest.mark.django_db
def test_the_admin_shows_the_summary_read_only(owner, admin_user, client):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    client.force_login(admin_user)
    change = f"/admin/runs/run/{run.pk}/change/"
    assert "the run has not ended" in client.get(change).content.decode()
    services.command_request(run=run, user=owner, kind="cancel")
    page = client.get(change).content.decode()
    assert "cancelled before it started (by olivia)" in page
    assert "&quot;duration_s&quot;: null" in page  # the stored JSON, laid out
    assert 'name="summary"' not in page


@pytest.mark.django_db
def test_reaper_failed_run_gets_a_summary_of_the_points_it_left(owner, settings):
    settings.KEISEI_MAX_ATTEMPTS = 2
    run = Run.objects.create(
        owner=owner,
        trainer="digits",
        config={},
        status=RunStatus.RUNNING,
        started_at=timezone.now() - dt.timedelta(minutes=3, seconds=12),
        step=5,
        total_steps=15,
        attempts=2,
        lease_owner="gone:1",
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1),
    )
    accuracy = {1: 0.5, 2: 0.9, 3: 0.7, 4: 0.9, 5: math.nan}  # NaN is no maximum
    _points(run, [("charts/val_accuracy", s, v) for s, v in accuracy.items()])
    _points(run, [("losses/val_loss", s, 1.0 / s) for s in accuracy])
    _points(run, [("clients/0/fit_loss", 2, 0.3)])  # per-client keys stay out
    for step, kind in ((1, "periodic"), (3, "periodic"), (5, "final")):
        _checkpoint(run, step, kind)

    assert services.runs_reap_expired() == [run.pk]
    run.refresh_from_db()
    summary = run.summary
    assert summary["status"] == "failed"
    assert (
        summary["reason"]
        == "the worker gone:1 stopped renewing its lease; gave up after 2 attempts"
    )
    assert summary["best"] == {
        "metric": "charts/val_accuracy",
        "mode": "max",
        "step": 2,
        "value": 0.9,
        "metrics": {"charts/val_accuracy": 0.9, "losses/val_loss": 0.5},
    }
    assert summary["final_metrics"] == {"charts/val_accuracy": None, "losses/val_loss": 0.2}
    assert summary["checkpoint"]["step"] == 1  # nearest before the best step
    assert 190 < summary["duration_s"] < 200
    event = assert_summary_is_the_last_event(run)
    assert event.actor == "system"
    assert event.message.startswith("failed after 3m 1")


@pytest.mark.django_db
def test_best_kind_checkpoint_wins_and_superseded_points_do_not_count(owner):
    run = running_run(owner, worker="host:9")
    _points(run, [("charts/val_accuracy", s, v) for s, v in {1: 0.5, 2: 0.6, 3: 0.99}.items()])
    resume = _checkpoint(run, 2, "periodic")
    # The attempt that reported 0.99 at step 3 was lost; the next resumes from step 2.
    services.run_resume_from(run_id=run.pk, worker="host:9", checkpoint=resume)
    _points(run, [("charts/val_accuracy", s, v) for s, v in {3: 0.7, 4: 0.8}.items()])
    _checkpoint(run, 3, "best")
    _checkpoint(run, 4, "final")
    Run.objects.filter(pk=run.pk).update(step=4, total_steps=4)

    assert services.run_finish(run_id=run.pk, worker="host:9", status=RunStatus.COMPLETED)
    run.refresh_from_db()
    assert run.summary["best"]["step"] == 4 and run.summary["best"]["value"] == 0.8
    assert (run.summary["checkpoint"]["step"], run.summary["checkpoint"]["kind"]) == (3, "best")
    assert run.summary["reason"] == "the budget was spent: 4 of 4 epochs"
    assert_summary_is_the_last_event(run)


@pytest.mark.django_db
def test_requeued_run_has_no_summary_until_it_ends_again(owner, api_client):
    run = running_run(owner)
    assert services.run_finish(run_id=run.pk, worker="host:1", status=RunStatus.FAILED, error="x")
    run.refresh_from_db()
    assert run.summary["reason"] == "x"
    assert services.run_requeue(run=run, user=owner)
    run.refresh_from_db()
    assert run.summary == {}
    assert api_client(owner).get(f"/api/v1/runs/{run.pk}/").json()["summary"] is None


@pytest.mark.django_db
def test_the_schema_describes_the_summary_as_nullable(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    field = schema["components"]["schemas"]["Run"]["properties"]["summary"]
    assert field["nullable"] and field["allOf"] == [{"$ref": "#/components/schemas/RunSummary"}]
    described = schema["components"]["schemas"]["RunSummary"]["properties"]
    assert set(described) == {
        "status", "reason", "started_at", "finished_at", "duration_s", "step", "total",
        "best", "final_metrics", "checkpoint",
    }  # fmt: skip
    assert described["best"]["nullable"] and described["checkpoint"]["nullable"]
