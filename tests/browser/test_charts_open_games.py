"""Charts that open games and a run that explains itself, in a real Chromium against Daphne
(issue 17, parts 2 and 5): a click on a chart opens the stored game nearest that step, the
viewer's link back marks the step on the charts, alerts are markers on their metric's chart
(stored and live), and the "What happened" card's links lead to the chart and the game."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from monitoring.services import event_record, metrics_record
from runs.models import Evaluation, GameRecord, Run, RunStatus
from tests.browser.test_run_page import log_in
from tests.support.browser_waits import wait_for_js

pytestmark = pytest.mark.django_db(transaction=True)

PANEL = "window.keiseiCharts.panels.get('win-rates')"


def charted_run(owner, status=RunStatus.COMPLETED) -> Run:
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, name="charted", status=status
    )
    wall = dt.datetime.now(dt.UTC)
    metrics_record(
        run_id=run.pk,
        points=[("charts/win_rate", s, s / 10_000, wall) for s in range(0, 10_001, 100)],
    )
    return run


def game(run: Run, step: int, source: str = "sample") -> GameRecord:
    return GameRecord.objects.create(
        run=run,
        source=source,
        step=step,
        black="a",
        white="b",
        result="draw",
        plies=1,
        start_sfen="startpos",
        moves=["7g7f"],
    )


def click_step(page, step: int) -> None:
    """A click (no drag) on the win-rate chart where step ``step`` is drawn."""
    page.locator("[data-panel='win-rates'] .u-over").scroll_into_view_if_needed()
    x, y = page.evaluate(
        f"""() => {{
          const u = {PANEL}.plot, r = u.over.getBoundingClientRect();
          return [r.left + u.valToPos({step}, 'x'), r.top + r.height / 2];
        }}"""
    )
    page.mouse.click(x, y)


def test_a_click_on_a_chart_opens_the_nearest_game_whose_link_back_marks_its_step(
    page, daphne_server, owner
):
    run = charted_run(owner)
    game(run, 1_000)
    late = game(run, 9_000, source="evaluation")
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    wait_for_js(page, f"{PANEL}?.plot?.data[0].length === 101")
    click_step(page, 8_600)
    expect(page).to_have_url(re.compile(rf"/runs/{run.pk}/games/{late.pk}/$"))
    page.wait_for_selector("body[data-viewer-ready]")
    expect(page.locator("#game-summary")).to_contain_text("game at step 9000")
    page.click("#game-on-charts")
    expect(page).to_have_url(re.compile(rf"/runs/{run.pk}/\?step=9000#charts$"))
    mark = page.locator("[data-panel='win-rates'] .chart-mark-step")
    expect(mark).to_have_attribute("data-step", "9000")
    expect(mark).to_have_attribute("aria-label", "step 9000")
    # The mark stands where step 9000 is drawn.
    left, where = page.evaluate(
        f"""() => {{
          const u = {PANEL}.plot, el = u.over.querySelector('.chart-mark-step');
          return [parseFloat(el.style.left), u.valToPos(9000, 'x')];
        }}"""
    )
    assert abs(left - where) < 1


def test_a_drag_zooms_and_opens_nothing(page, daphne_server, owner):
    run = charted_run(owner)
    game(run, 1_000)
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    wait_for_js(page, f"{PANEL}?.plot?.data[0].length === 101")
    page.locator("[data-panel='win-rates'] .u-over").scroll_into_view_if_needed()
    box = page.locator("[data-panel='win-rates'] .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, y, steps=5)
    page.mouse.up()
    expect(page.locator("[data-panel='win-rates']")).to_have_class(re.compile("zoomed"))
    assert page.url.endswith(f"/runs/{run.pk}/")


def test_alerts_are_markers_on_their_metrics_chart_stored_and_live(page, daphne_server, owner):
    run = charted_run(owner, status=RunStatus.RUNNING)
    event_record(
        run_id=run.pk,
        type="alert",
        message="win rate stalled",
        data={"rule": "stall", "key": "charts/win_rate", "step": 5_000},
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    markers = page.locator("[data-panel='win-rates'] .chart-mark-alert")
    expect(markers).to_have_count(1)
    expect(markers.first).to_have_attribute("aria-label", "win rate stalled")
    expect(page.locator("#live-state")).to_have_text("live")
    # Live: one on a key no chart draws (nothing marked), then one on the win rate, which
    # arrives after it (events go in seq order).
    event_record(
        run_id=run.pk,
        type="alert",
        message="entropy fell",
        data={"rule": "collapse", "key": "losses/entropy", "step": 6_000},
    )
    event_record(
        run_id=run.pk,
        type="alert",
        message="win rate fell",
        data={"rule": "drop", "key": "charts/win_rate", "step": 7_000},
    )
    expect(markers).to_have_count(2)
    expect(
        page.locator("[data-panel='win-rates'] .chart-mark-alert[data-step='7000']")
    ).to_have_attribute("aria-label", "win rate fell")
    # The single chart draws the win rate too: its two markers, and none anywhere else.
    expect(page.locator("#chart .chart-mark-alert")).to_have_count(2)
    expect(page.locator(".chart-mark-alert")).to_have_count(4)


def test_the_explanations_links_open_the_chart_at_its_step_and_its_game(page, daphne_server, owner):
    run = charted_run(owner)
    won = game(run, 4_000, source="evaluation")
    Evaluation.objects.create(
        run=run,
        step=4_000,
        opponent="random",
        games=4,
        wins=3,
        losses=1,
        win_rate=0.75,
        data={"game_records": [won.pk]},
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    item = page.locator("#explain-anchors li[data-opponent='random']")
    expect(item).to_contain_text("First beat random at step 4000")
    expect(page.locator("#explain-anchors li[data-opponent='greedy']")).to_contain_text(
        "not beaten yet"
    )
    item.locator("a.explain-game").click()
    expect(page).to_have_url(re.compile(rf"/runs/{run.pk}/games/{won.pk}/$"))
    page.go_back()
    page.locator("#explain-anchors li[data-opponent='random'] a.explain-chart").click()
    expect(page).to_have_url(re.compile(rf"/runs/{run.pk}/\?step=4000#charts$"))
    expect(page.locator("[data-panel='win-rates'] .chart-mark-step")).to_have_attribute(
        "data-step", "4000"
    )
