"""The clients panel of a federated run in a real Chromium against Daphne: rows that change
state as a round goes, the round counter, the per-client chart, the state a reload shows, and
an axe-core audit of the page."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from monitoring import live
from monitoring.models import MetricPoint
from monitoring.services import event_record, metrics_record
from runs import services
from runs.models import Run, RunStatus
from tests.browser.test_every_page import audit, settle
from tests.browser.test_run_page import log_in
from tests.support.browser_waits import wait_for_js
from tests.support.showroom import stop_run

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_PANEL = "window.keiseiCharts.panels.get('clients-accuracy')"


def row(page, client: int):
    return page.locator(f"#clients-table tr[data-client='{client}']")


def state_of(page, client: int):
    return row(page, client).locator(".client-state-label")


def client_points(run: Run, round_no: int, clients: dict[int, float]) -> None:
    """The five per-client points of a finished round, and the aggregate, as the engine
    stores them (step = round)."""
    wall = dt.datetime.now(dt.UTC)
    points = [("charts/val_accuracy", round_no, 0.8, wall)]
    for client, accuracy in clients.items():
        base = f"clients/{client}/"
        points += [
            (base + "fit_loss", round_no, 0.5 - client / 100, wall),
            (base + "fit_samples", round_no, 90.0, wall),
            (base + "eval_loss", round_no, 0.4, wall),
            (base + "eval_accuracy", round_no, accuracy, wall),
            (base + "eval_samples", round_no, 24.0, wall),
        ]
    metrics_record(run_id=run.pk, points=points)


def round_event(run: Run, data: dict) -> None:
    event_record(run_id=run.pk, type="round", message=f"round {data['round']}", data=data)


def publish_clients(run: Run, round_no: int, updates: list[dict]) -> None:
    live.publish_run_message(
        run.pk, live.message("clients", run.pk, {"round": round_no, "updates": updates})
    )
    assert live.publisher().flush()


def test_rows_follow_round_events_and_client_updates_and_a_reload_keeps_them(
    page, daphne_server, owner
):
    run = Run.objects.create(
        owner=owner,
        trainer="digits",
        name="federated",
        status=RunStatus.RUNNING,
        config={"mode": "federated", "clients": 4, "epochs": 3, "local_epochs": 2},
    )
    round_event(run, {"phase": "start", "round": 1, "rounds": 3, "clients": [0, 1, 3]})
    client_points(run, 1, {0: 0.75, 1: 0.5})
    dropped = "dropped out after 40% of its local training"
    round_event(
        run,
        {
            "phase": "end",
            "round": 1,
            "rounds": 3,
            "clients": {
                "0": {"state": "done", "straggled": True},
                "1": {"state": "done", "straggled": False},
                "3": {"state": "dropped", "reason": dropped},
            },
        },
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")

    # as the page comes: the last round's outcome, each client's last metrics
    expect(page.locator("#fed-round")).to_have_text("round 1 of 3: averaged")
    expect(page.locator("#clients-table tbody tr")).to_have_count(4)
    expect(state_of(page, 0)).to_have_text("done")
    expect(row(page, 0)).to_contain_text("straggled")
    expect(state_of(page, 2)).to_have_text("not chosen")
    expect(state_of(page, 3)).to_have_text("dropped")
    expect(row(page, 3)).to_contain_text(dropped)
    expect(row(page, 1).locator("[data-field='eval.accuracy']")).to_have_text("0.500")
    # one series per client on one panel, the averaged model's beside them
    wait_for_js(page, f"{CLIENT_PANEL}?.plot?.data[0].length === 1")
    assert page.evaluate(f"[...{CLIENT_PANEL}.series.keys()]") == [
        "clients/0/eval_accuracy",
        "clients/1/eval_accuracy",
        "charts/val_accuracy",
    ]
    for scheme in ("light", "dark"):  # as the page comes, in both themes
        page.emulate_media(color_scheme=scheme)
        assert audit(page) == [], scheme

    expect(page.locator("#chart-key optgroup[label='clients: eval_accuracy'] option")).to_have_text(
        ["client 0", "client 1"]
    )
    # The per-client keys are folded in a table of their own, there and when more arrive live.
    expect(page.locator("#latest-metrics tr[data-key^='clients/']")).to_have_count(0)
    folded = page.locator("#latest-client-metrics tr[data-key^='clients/']")
    expect(folded).to_have_count(10)
    expect(page.locator("#live-state")).to_have_text("live")  # a message before it is lost
    live.publish_metrics(run.pk, 2, {"clients/3/eval_loss": 0.25, "losses/val_loss": 0.3})
    assert live.publisher().flush()
    expect(folded).to_have_count(11)
    expect(page.locator("#latest-metrics tr[data-key='losses/val_loss']")).to_have_count(1)

    expect(page.locator("#live-state")).to_have_text("live")
    round_event(run, {"phase": "start", "round": 2, "rounds": 3, "clients": [0, 2]})
    expect(page.locator("#fed-round")).to_have_text("round 2 of 3")
    expect(state_of(page, 0)).to_have_text("training")
    expect(state_of(page, 1)).to_have_text("not chosen")
    expect(state_of(page, 3)).to_have_text("not chosen")

    update = {"round": 2, "epoch": 1, "local_epochs": 2}
    publish_clients(
        run,
        2,
        [
            {**update, "client": 0, "state": "training", "progress": 0.5},
            {**update, "client": 2, "state": "straggling", "progress": 1.0, "delay_s": 1.5},
        ],
    )
    expect(state_of(page, 2)).to_have_text("straggling")
    expect(row(page, 2)).to_contain_text("upload delayed 1.5 s")
    wait_for_js(page, "document.querySelector(\"tr[data-client='0'] progress\").value === 0.5")
    assert audit(page) == []  # mid-round, every state on screen

    # a late update of an earlier round changes nothing (the socket keeps the order, so it
    # has been handled once the next message's change shows)
    publish_clients(run, 1, [{**update, "round": 1, "client": 1, "state": "training"}])
    fit = {"loss": 0.123456, "samples": 90}
    evaluation = {"loss": 0.2, "accuracy": 0.9375, "samples": 32}
    publish_clients(
        run,
        2,
        [
            {
                **update,
                "client": 0,
                "state": "done",
                "progress": 1.0,
                "fit": fit,
                "eval": evaluation,
            },
            {**update, "client": 2, "state": "dropped", "progress": 0.4, "reason": dropped},
        ],
    )
    expect(state_of(page, 0)).to_have_text("done")
    expect(row(page, 0).locator("[data-field='fit.loss']")).to_have_text("0.1235")
    expect(row(page, 0).locator("[data-field='eval.accuracy']")).to_have_text("0.938")
    expect(row(page, 0).locator("[data-field='eval.samples']")).to_have_text("32")
    expect(state_of(page, 2)).to_have_text("dropped")
    expect(state_of(page, 1)).to_have_text("not chosen")

    client_points(run, 2, {0: 0.9375})
    round_event(
        run,
        {
            "phase": "end",
            "round": 2,
            "rounds": 3,
            "clients": {
                "0": {"state": "done", "straggled": False, "fit": fit, "eval": evaluation},
                "2": {"state": "dropped", "reason": dropped},
            },
        },
    )
    expect(page.locator("#fed-round")).to_have_text("round 2 of 3: averaged")
    wait_for_js(page, "document.getElementById('fed-round-progress').value === 2")
    expect(state_of(page, 1)).to_have_text("not chosen")

    page.reload()
    settle(page)
    expect(page.locator("#fed-round")).to_have_text("round 2 of 3: averaged")
    assert [state_of(page, c).inner_text() for c in range(4)] == [
        "done",
        "not chosen",
        "dropped",
        "not chosen",
    ]
    expect(row(page, 0).locator("[data-field='eval.accuracy']")).to_have_text("0.938")
    expect(row(page, 1).locator("[data-field='eval.accuracy']")).to_have_text("0.500")

    # a stop mid-round abandons it (no end event): its clients wait, live and after a reload
    expect(page.locator("#live-state")).to_have_text("live")
    round_event(run, {"phase": "start", "round": 3, "rounds": 3, "clients": [1, 2]})
    publish_clients(run, 3, [{**update, "round": 3, "client": 1, "state": "training"}])
    expect(state_of(page, 1)).to_have_text("training")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.STOPPED)
    event_record(run_id=run.pk, type="status", message="run stopped", data={"status": "stopped"})
    expect(page.locator("#fed-round")).to_have_text("round 3 of 3: abandoned")
    expect(state_of(page, 1)).to_have_text("waiting")
    expect(state_of(page, 2)).to_have_text("waiting")
    expect(state_of(page, 0)).to_have_text("not chosen")
    page.reload()
    expect(page.locator("#fed-round")).to_have_text("round 3 of 3: abandoned")
    assert [state_of(page, c).inner_text() for c in range(4)] == [
        "not chosen",
        "waiting",
        "waiting",
        "not chosen",
    ]


def test_a_centralized_run_has_no_clients_panel(page, daphne_server, owner):
    run = Run.objects.create(
        owner=owner, trainer="digits", name="central", config={"mode": "centralized"}
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("#clients-panel")).to_have_count(0)
    expect(page.locator("#client-metrics")).to_be_hidden()


# A real federated run, slowed so that a round lasts seconds: several local epochs and a
# straggler's delay (the worker shares two cores with the rest of the suite).
SLOW_FEDERATED = {
    "mode": "federated",
    "epochs": 4,
    "clients": 8,
    "local_epochs": 6,
    "batch_size": 16,
    "seed": 3,
    "client_fraction": 0.5,
    "dropout_probability": 0.2,
    "straggler_probability": 0.3,
    "straggler_delay_s": 1.0,
}

# Every change of a row's state, as the page makes it, with the round shown at that moment
# (a MutationObserver installed through DevTools, which the page's CSP does not govern).
RECORD_STATES = """() => {
  window.fedLog = [];
  const table = document.querySelector("#clients-table tbody");
  const note = () => document.querySelectorAll("#clients-table tr[data-client]").forEach((tr) => {
    const last = window.fedLog.findLast((e) => e.client === tr.dataset.client);
    if (!last || last.state !== tr.dataset.state) {
      window.fedLog.push({ client: tr.dataset.client, state: tr.dataset.state,
                           round: document.getElementById("fed-round").textContent });
    }
  });
  new MutationObserver(note).observe(table, { subtree: true, attributes: true,
                                               attributeFilter: ["data-state"], childList: true });
  note();
  window.fedRounds = [];  // every round counter text, in the order shown
  const counter = document.getElementById("fed-round");
  const noteRound = () => {
    if (window.fedRounds.at(-1) !== counter.textContent) window.fedRounds.push(counter.textContent);
  };
  new MutationObserver(noteRound).observe(counter, { childList: true, characterData: true,
                                                     subtree: true });
  noteRound();
}"""

# A client seen training and then done or dropped within one round.
SEEN_THROUGH_A_ROUND = """() => {
  const log = window.fedLog;
  return log.some((e, i) => e.state === "training" && log.slice(i + 1).some(
    (f) => f.client === e.client && (f.state === "done" || f.state === "dropped")
           && f.round === e.round));
}"""


@pytest.fixture
def federated_run(owner, celery_worker):
    run = services.run_queue(
        owner=owner, trainer="digits", config=SLOW_FEDERATED, name="federated live"
    )
    yield run
    stop_run(run, owner)


def test_a_training_federated_run_shows_its_clients_change_state_round_by_round(
    page, daphne_server, federated_run
):
    run = federated_run
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("#clients-table tbody tr")).to_have_count(8)
    page.evaluate(RECORD_STATES)

    expect(page.locator("#run-status")).to_have_text("completed", timeout=240_000)
    # what the page showed on the way, read once the run is over
    assert page.evaluate(SEEN_THROUGH_A_ROUND), page.evaluate("window.fedLog")
    rounds = page.evaluate("window.fedRounds")
    assert rounds == sorted(set(rounds), key=rounds.index) and len(rounds) >= 6, rounds
    assert [r for r in rounds if r.endswith("averaged")][-2:] == [
        "round 3 of 4: averaged",
        "round 4 of 4: averaged",
    ], rounds
    expect(page.locator("#run-status")).to_have_text("completed", timeout=240_000)
    expect(page.locator("#fed-round")).to_have_text("round 4 of 4: averaged")

    # one series per client that finished a round, on one panel, the aggregate beside them
    clients = sorted(
        set(
            MetricPoint.objects.filter(run=run, key__endswith="/eval_accuracy")
            .filter(key__startswith="clients/")
            .values_list("key", flat=True)
        ),
        key=lambda k: int(k.split("/")[1]),
    )
    assert len(clients) >= 4
    wait_for_js(page, f"{CLIENT_PANEL}?.series.size === {len(clients) + 1}")
    assert page.evaluate(f"[...{CLIENT_PANEL}.series.keys()]") == [*clients, "charts/val_accuracy"]
    legend = page.locator("[data-panel='clients-accuracy'] .u-legend .u-series .u-label")
    expect(legend).to_contain_text([f"client {k.split('/')[1]}" for k in clients])
