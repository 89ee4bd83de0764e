"""The runs list as a dashboard, the run form and the account page, over HTTP without a
browser: filters, sort and paging; sparklines in one query; clone and fork prefills; tokens
shown once; quotas shown."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken
from monitoring.models import EventType, RunEvent
from monitoring.services import metrics_record
from runs import selectors
from runs.models import Checkpoint, Run, RunStatus
from runs.views import CHART_KEYS
from tests.support.forms import filled

pytestmark = pytest.mark.django_db

WALL = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def make_run(owner, name, **extra) -> Run:
    return Run.objects.create(owner=owner, trainer="digits", name=name, **{"config": {}, **extra})


def test_the_list_filters_sorts_and_pages_like_the_api(client, owner):
    for i in range(30):
        make_run(owner, f"sweep-{i:02d}", tags=["sweep"] if i % 2 else [], step=i)
    make_run(owner, "other")
    client.force_login(owner)
    page = client.get("/runs/", {"search": "sweep", "tag": "sweep", "sort": "-step"})
    runs = list([r.run for r in page.context["rows"]])
    assert [r.name for r in runs] == [f"sweep-{i:02d}" for i in range(29, 0, -2)]
    assert page.context["dashboard"].page.paginator.count == 15
    first = client.get("/runs/", {"sort": "name"})
    assert first.context["dashboard"].page.paginator.num_pages == 2
    assert [r.name for r in [r.run for r in first.context["rows"]]][:2] == ["other", "sweep-00"]
    second = client.get("/runs/", {"sort": "name", "page": "2"})
    assert [r.name for r in [r.run for r in second.context["rows"]]] == [
        f"sweep-{i}" for i in range(24, 30)
    ]


def test_a_bad_filter_is_named_and_lists_nothing(client, owner):
    make_run(owner, "a")
    client.force_login(owner)
    page = client.get("/runs/", {"status": "sleeping", "sort": "colour"})
    assert set(page.context["dashboard"].errors) == {"status", "sort"}
    assert list([r.run for r in page.context["rows"]]) == []
    text = page.content.decode()
    assert "Status: Select a valid choice" in text
    assert "Sort: one of" in text


def test_owner_filter_is_for_staff_only(client, owner, staff, outsider):
    make_run(owner, "olivias")
    make_run(outsider, "oscars")
    client.force_login(outsider)
    refused = client.get("/runs/", {"owner": "olivia"})
    assert refused.context["dashboard"].errors == {"owner": ["only staff may filter by owner"]}
    client.force_login(staff)
    page = client.get("/runs/", {"owner": "olivia"})
    assert [r.name for r in [r.run for r in page.context["rows"]]] == ["olivias"]


def test_the_htmx_request_gets_the_table_alone(client, owner):
    make_run(owner, "a")
    client.force_login(owner)
    fragment = client.get("/runs/", {"search": "a"}, headers={"HX-Request": "true"})
    text = fragment.content.decode()
    assert text.lstrip().startswith("{#") is False and 'id="runs-table"' in text
    assert "<html" not in text
    assert 'data-url="/runs/table/?search=a"' in text


def test_sparklines_of_every_listed_run_come_in_one_query(owner):
    long_run = make_run(owner, "long", status=RunStatus.RUNNING)
    short_run = make_run(owner, "short")
    silent_run = make_run(owner, "silent")
    metrics_record(
        run_id=long_run.pk,
        points=[("losses/train_loss", s, 10.0 - s / 1000, WALL) for s in range(0, 5000, 10)],
    )
    metrics_record(
        run_id=short_run.pk, points=[("charts/val_accuracy", s, s / 10, WALL) for s in range(5)]
    )
    with CaptureQueriesContext(connection) as queries:
        lines = selectors.sparklines(
            run_ids=[long_run.pk, short_run.pk, silent_run.pk], keys=CHART_KEYS
        )
    assert len(queries) == 1
    assert silent_run.pk not in lines
    assert lines[short_run.pk].key == "charts/val_accuracy"
    assert lines[short_run.pk].points.split(" ")[0] == "0.0,22.0"  # the lowest, at the left
    long_line = lines[long_run.pk]
    assert long_line.key == "losses/train_loss"
    # from level-1 rollups (64 steps a block): 78 blocks, not 500 points
    assert len(long_line.points.split(" ")) == 78
    assert long_line.last == pytest.approx(10.0 - 4990 / 1000)


def test_eta_from_the_attempts_pace(owner):
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    run = make_run(
        owner,
        "r",
        status=RunStatus.RUNNING,
        progress=0.25,
        started_at=now - dt.timedelta(minutes=10),
    )
    assert selectors.run_eta_seconds(run, now=now) == 30 * 60
    run.status = RunStatus.PAUSED
    assert selectors.run_eta_seconds(run, now=now) is None


def test_a_resumed_attempt_is_paced_from_the_checkpoint_it_resumed_at(owner):
    """Seen failing with the attempt's start taken as 0: 3.3 minutes, not 10."""
    now = timezone.now()
    run = make_run(
        owner,
        "r",
        status=RunStatus.RUNNING,
        step=750,
        total_steps=1000,
        progress=0.75,
        attempts=2,
        started_at=now - dt.timedelta(minutes=10),
    )
    for seq, attempt, step in ((1, 1, 200), (2, 2, 500)):  # an older resume, then this one's
        RunEvent.objects.create(
            run=run,
            seq=seq,
            type=EventType.LOG,
            message="resuming",
            data={"checkpoint": 1, "step": step, "attempt": attempt, "superseded_points": 0},
        )
    started = selectors.attempt_start_progress(runs=[run])
    assert started == {run.pk: 0.5}
    eta = selectors.run_eta_seconds(run, now=now, start_progress=started[run.pk])
    assert eta == 10 * 60  # a quarter of the run in 10 minutes, a quarter left


def test_the_form_is_grouped_with_advanced_fields_folded(client, owner):
    client.force_login(owner)
    page = client.get("/runs/new/", {"trainer": "shogi-ppo"})
    titles = [s.title for s in page.context["sections"]]
    assert titles[:2] == ["Budget and bookkeeping", "Self-play environment"]
    ppo = next(s for s in page.context["sections"] if s.title == "PPO")
    assert "vf_coef" in [i.field.name for i in ppo.advanced]
    assert "Value loss weight" in page.content.decode()


def test_errors_share_one_wording_and_are_summarised_with_links(client, owner):
    client.force_login(owner)
    page = client.post("/runs/new/", {"trainer": "digits", "learning_rate": "2", "epochs": "many"})
    text = page.content.decode()
    assert page.status_code == 200 and Run.objects.count() == 0
    assert 'href="#id_learning_rate"' in text and 'href="#id_epochs"' in text
    assert "Learning rate: Input should be less than or equal to 1" in text
    assert "Epochs: Input should be a valid integer" in text
    assert 'aria-describedby="id_learning_rate-error"' in text
    assert 'id="id_learning_rate-error"' in text


def test_preset_differences_are_marked(client, owner):
    client.force_login(owner)
    page = client.get("/runs/new/", {"trainer": "shogi-ppo", "preset": "quick"})
    marked = {
        i.field.name for s in page.context["sections"] for i in s.fields + s.advanced if i.differs
    }
    assert marked == set()  # the preset's own values
    # max_plies is refused, so the form comes back, marked
    sent = filled(page, learning_rate="0.5", num_envs="256.0", max_plies="1")
    page = client.post("/runs/new/", sent)
    marked = {
        i.field.name for s in page.context["sections"] for i in s.fields + s.advanced if i.differs
    }
    assert "learning_rate" in marked and "num_envs" not in marked


def test_a_clone_prefill_has_the_source_config_and_queues_once(client, owner):
    source = make_run(owner, "origin", config={"epochs": 3, "batch_size": 32})
    client.force_login(owner)
    page = client.get("/runs/new/", {"from": source.pk})
    assert page.context["form"].initial["epochs"] == 3
    assert page.context["form"].initial["name"] == "copy of origin"
    data = filled(page, **{"from": source.pk, "submission": "abc", "name": "copy of origin"})
    first = client.post("/runs/new/", data)
    second = client.post("/runs/new/", data)
    clone = Run.objects.get(name="copy of origin")
    assert first.url == second.url == f"/runs/{clone.pk}/"
    assert clone.parent == source and clone.config["epochs"] == 3


def test_a_fork_prefill_queues_from_the_checkpoint(client, owner):
    source = make_run(owner, "origin", config={"epochs": 3}, status=RunStatus.COMPLETED)
    checkpoint = Checkpoint.objects.create(run=source, step=8, kind="final", size=1, sha256="0")
    client.force_login(owner)
    page = client.get("/runs/new/", {"from": source.pk, "checkpoint": checkpoint.pk})
    assert "fork of origin at step 8" == page.context["form"].initial["name"]
    changes = {"from": source.pk, "checkpoint": checkpoint.pk, "epochs": "5", "submission": "f"}
    client.post("/runs/new/", filled(page, **changes))
    fork = Run.objects.exclude(pk=source.pk).get()
    assert fork.start_checkpoint == checkpoint and fork.config["epochs"] == 5


def test_another_users_run_in_from_is_a_404(client, owner, outsider):
    source = make_run(owner, "origin")
    checkpoint = Checkpoint.objects.create(run=source, step=8, kind="final", size=1, sha256="0")
    client.force_login(outsider)
    assert client.get("/runs/new/", {"from": source.pk}).status_code == 404
    assert (
        client.get("/runs/new/", {"from": source.pk, "checkpoint": checkpoint.pk}).status_code
        == 404
    )
    assert client.post("/runs/new/", {"from": source.pk, "epochs": "2"}).status_code == 404
    assert Run.objects.count() == 1


def test_a_token_key_is_shown_once_and_quotas_are_shown(client, owner):
    client.force_login(owner)
    created = client.post("/account/tokens/", {"name": "laptop", "expires": "30"})
    assert created.status_code == 302 and created.url == "/account/"
    page = client.get("/account/")
    key = page.context["new_token"]["key"]
    assert key in page.content.decode()
    assert page.context["usage"]["quota"]["max_queued"] >= 1
    again = client.get("/account/")
    assert key not in again.content.decode() and "laptop" in again.content.decode()


def test_a_bad_token_name_is_named(client, owner):
    client.force_login(owner)
    page = client.post("/account/tokens/", {"name": "", "expires": "fortnight"})
    text = page.content.decode()
    assert page.status_code == 400
    assert "Name: give the token a name" in text
    assert "Expires: choose one of the offered periods" in text
    assert ApiToken.objects.count() == 0


def test_revoking_asks_first_and_another_users_token_is_a_404(client, owner, outsider):
    client.force_login(owner)
    client.post("/account/tokens/", {"name": "laptop", "expires": "never"})
    token = ApiToken.objects.get()
    ask = client.get(f"/account/tokens/{token.pk}/revoke/")
    assert ask.status_code == 200 and ApiToken.objects.get().revoked_at is None
    client.force_login(outsider)
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    client.force_login(owner)
    client.post(f"/account/tokens/{token.pk}/revoke/")
    assert ApiToken.objects.get().revoked_at is not None


def test_the_list_costs_the_same_queries_for_5_runs_as_for_25(client, staff):
    def queries_for(count: int) -> int:
        Run.objects.all().delete()
        for i in range(count):
            run = make_run(staff, f"r{i}", tags=["t"], status=RunStatus.QUEUED)
            metrics_record(run_id=run.pk, points=[("losses/train_loss", 1, 0.5, WALL)])
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/runs/").status_code == 200
        return len(queries)

    client.force_login(staff)
    assert queries_for(5) == queries_for(25)
