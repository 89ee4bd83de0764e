"""The run page's charts, configuration, labels, commands and timeline, and the compare page,
in a real Chromium against Daphne: what a person sees and keeps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from monitoring import live
from monitoring.services import event_record, metrics_record
from runs.models import Checkpoint, Command, Run, RunStatus
from tests.browser.test_run_page import log_in
from tests.support.browser_waits import wait_for_js
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Panel data, as the page holds it (static/js/charts.js exposes the board for tests).
PANEL = "window.keiseiCharts.panels.get('losses')"


def running_run(owner, **fields) -> Run:
    fields.setdefault("config", {})
    return Run.objects.create(
        owner=owner, trainer="digits", name="watched", status=RunStatus.RUNNING, **fields
    )


def record(run: Run, key: str, values) -> None:
    wall = dt.datetime.now(dt.UTC)
    metrics_record(run_id=run.pk, points=[(key, s, v, wall) for s, v in values])


def x_range(page) -> list[float]:
    return page.evaluate(f"[{PANEL}.plot.scales.x.min, {PANEL}.plot.scales.x.max]")


def y_labels_fit(page, panel: str) -> list[str]:
    """The panel's y labels, once the space laid out left of the plot holds the widest (a
    deadline, then the figures in the failure)."""
    measure = f"""() => {{
      const u = {panel}.plot, axis = u.axes[1];
      u.ctx.font = axis.font[0];
      const widest = Math.max(...axis._values.map((v) => u.ctx.measureText(v).width));
      return [axis._values, widest / devicePixelRatio + axis.ticks.size + axis.gap,
              u.bbox.left / devicePixelRatio];
    }}"""
    try:
        wait_for_js(page, f"(([, needed, room]) => room >= needed)(({measure})())", timeout=5000)
    except PlaywrightTimeout:
        labels, needed, room = page.evaluate(measure)
        pytest.fail(f"{panel}: {room} px laid out for labels {labels} needing {needed} px")
    return page.evaluate(measure)[0]


def test_every_panels_y_axis_is_wide_enough_for_its_labels(page, daphne_server, owner):
    run = running_run(owner)
    record(run, "charts/win_rate", [(s * 100, s / 200) for s in range(200)])
    record(run, "losses/value_loss", [(s * 100, 1 / (s + 1)) for s in range(200)])
    record(run, "charts/learning_rate", [(s * 100, 0.0005) for s in range(200)])
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    ids = ["losses", "win-rates", "learning-rate"]
    panels = [f"window.keiseiCharts.panels.get('{i}')" for i in ids]
    wait_for_js(page, " && ".join(f"{p}?.plot?.data[0].length === 200" for p in panels))
    for panel in panels:
        labels = y_labels_fit(page, panel)
        assert len(set(labels)) == len(labels), labels  # 0.0004, 0.0005…, not 0, 0.001, 0.001


def test_a_zoom_survives_a_live_point_and_negative_labels_keep_their_minus(
    page, daphne_server, owner
):
    run = running_run(owner)
    record(run, "losses/train_loss", [(s, -123456.0 - 10 * s) for s in range(100)])
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    wait_for_js(page, f"{PANEL}?.plot?.data[0].length === 100")

    # The y labels are all negative; the axis is wide enough for the widest one, minus and all.
    labels = y_labels_fit(page, PANEL)
    assert labels and all(v.startswith(("-", "\u2212")) for v in labels), labels

    # Drag across the middle of the panel: the user's zoom.
    over = page.locator("[data-panel=losses] .u-over")
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    expect(page.locator("[data-panel=losses]")).to_have_class("chart-panel zoomed")
    zoomed = x_range(page)
    assert 20 < zoomed[0] < zoomed[1] < 70, zoomed

    live.publish_metrics(run.pk, 100, {"losses/train_loss": -130000.0})
    assert live.publisher().flush()
    wait_for_js(page, f"{PANEL}.plot.data[0].length === 101")
    assert x_range(page) == zoomed

    page.click("#charts .chart-reset")
    wait_for_js(page, f"{PANEL}.plot.scales.x.max === 100")
    assert x_range(page)[0] == 0


def test_the_timeline_keeps_its_history_across_a_reload_and_pages_back(page, daphne_server, owner):
    run = running_run(owner)
    for n in range(1, 61):
        event_record(run_id=run.pk, type="log", message=f"note {n}")
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    timeline = page.locator("#timeline")
    expect(timeline.locator("li.event")).to_have_count(50)  # the newest page
    expect(timeline.locator("li.event").first).to_contain_text("#60")
    page.click("text=Load older events")
    expect(timeline.locator("li.event")).to_have_count(60)
    expect(timeline.locator("li.event").last).to_contain_text("log: note 1")
    expect(page.locator("text=Load older events")).to_have_count(0)

    expect(page.locator("#live-state")).to_have_text("live")
    event_record(run_id=run.pk, type="log", message="arrived live")
    expect(timeline.locator("li.event").first).to_contain_text("log: arrived live")

    page.reload()
    expect(timeline.locator("li.event").first).to_contain_text("log: arrived live")
    expect(timeline).to_contain_text("log: note 12")
    expect(timeline.locator("li.event")).to_have_count(50)


def test_stop_asks_before_it_is_sent(page, daphne_server, owner):
    run = running_run(owner)
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    dialog = page.locator("#confirm-dialog")

    page.click("#run-commands button[value=stop]")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Stop this run?")
    page.keyboard.press("Escape")  # no
    expect(dialog).to_be_hidden()
    expect(page.locator("#command-result")).to_have_text("Stop not sent.")
    assert not Command.objects.filter(run=run).exists()

    page.click("#run-commands button[value=stop]")
    expect(dialog).to_be_visible()
    page.click("#confirm-yes")
    expect(page.locator("#command-result")).to_have_text("stop requested")
    assert list(Command.objects.filter(run=run).values_list("kind", flat=True)) == ["stop"]
    expect(page.locator("h1")).to_have_text("watched")  # the same page, not reloaded
    expect(page.locator("#live-state")).to_have_text("live")


def test_the_configuration_shows_with_a_changed_field_marked(page, daphne_server, owner):
    run = running_run(owner, config={"learning_rate": 0.005, "epochs": 10})
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    config = page.locator("#run-config")
    changed = config.locator("tr[data-field=learning_rate]")
    expect(changed).to_have_class("changed")
    expect(changed).to_contain_text("0.005")
    expect(changed).to_contain_text("default 0.001")
    expect(config.locator("tr[data-field=epochs]")).not_to_have_class("changed")  # the default
    expect(config.locator("tr.changed")).to_have_count(1)


def test_name_tags_and_notes_are_edited_and_kept(page, daphne_server, owner):
    run = running_run(owner)
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    page.click("#run-edit summary")
    page.fill("#edit-name", "renamed in the browser")
    page.fill("#edit-tags", "baseline, lr-sweep")
    page.fill("#edit-notes", "first try with the wider net")
    page.click("#run-edit button[type=submit]")
    expect(page.locator("h1")).to_have_text("renamed in the browser")
    page.reload()
    expect(page.locator("h1")).to_have_text("renamed in the browser")
    expect(page.locator("#run-labels .tag")).to_have_text(["baseline", "lr-sweep"])
    expect(page.locator("#run-notes")).to_have_text("first try with the wider net")
    run.refresh_from_db()
    assert (run.name, run.tags, run.notes) == (
        "renamed in the browser",
        ["baseline", "lr-sweep"],
        "first try with the wider net",
    )

    page.click("#run-edit summary")
    page.fill("#edit-tags", "x" * 200)
    page.click("#run-edit button[type=submit]")
    expect(page.locator(".flash.error")).to_contain_text("tags")


def test_another_user_cannot_edit_a_run(daphne_server, owner, outsider):
    run = running_run(owner)
    client = Client()
    client.force_login(outsider)
    response = client.post(f"/runs/{run.pk}/edit/", {"name": "taken", "tags": "", "notes": ""})
    assert response.status_code == 404
    run.refresh_from_db()
    assert run.name == "watched"


def test_compare_shows_the_config_diff_and_a_panel_per_group(page, daphne_server, owner):
    runs = []
    for name, lr in (("slow", 0.001), ("fast", 0.01)):
        run = Run.objects.create(
            owner=owner,
            trainer="digits",
            name=name,
            status=RunStatus.COMPLETED,
            config={"learning_rate": lr, "epochs": 5},
        )
        record(run, "losses/train_loss", [(s, 1 / (s + 1)) for s in range(30)])
        record(run, "charts/val_accuracy", [(s, 1 - 1 / (s + 1)) for s in range(30)])
        runs.append(run)
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/compare/?runs={runs[0].pk},{runs[1].pk}")
    diff = page.locator("#config-diff")
    expect(diff.locator("tbody tr")).to_have_count(1)  # only what differs
    expect(diff.locator("tr[data-field=learning_rate]")).to_contain_text("0.01")
    panels = page.locator("#compare-panels .chart-panel")
    expect(panels).to_have_count(2)  # losses, win rates (accuracy)
    expect(panels.locator("canvas")).to_have_count(2)
    expect(panels.first.locator(".u-legend")).to_contain_text("fast")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: no sideways scroll
    wait_for_js(page, "document.documentElement.scrollWidth <= 390")


def test_the_run_page_fits_a_phone(browser, daphne_server, owner):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        run = running_run(owner, config={"learning_rate": 0.005})
        record(run, "losses/train_loss", [(s, 1 / (s + 1)) for s in range(40)])
        record(run, "charts/a_very_long_metric_name_that_could_push_the_page_wide", [(1, 0.5)])
        Checkpoint.objects.create(run=run, step=8, kind="final", size=1, sha256="0" * 64)
        event_record(run_id=run.pk, type="log", message="x" * 300)
        log_in(page, daphne_server, "olivia")
        page.goto(f"{daphne_server}/runs/{run.pk}/")
        wait_for_js(page, f"{PANEL}?.plot?.data[0].length === 40")
        expect(page.locator("#live-state")).to_have_text("live")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
    finally:
        context.close()


def test_the_charted_metric_is_the_same_live_and_after_a_reload(page, daphne_server, owner):
    run = running_run(owner)
    values = {"charts/val_accuracy": 0.5, "time/examples_per_s": 900.0, "losses/train_loss": 2.0}
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    live.publish_metrics(run.pk, 1, values)
    assert live.publisher().flush()
    expect(page.locator("#chart .u-legend")).to_contain_text("losses/train_loss")
    live_choice = page.input_value("#chart-key")
    live_panels = page.locator("#chart-panels .chart-panel h3").all_inner_texts()

    wall = dt.datetime.now(dt.UTC)
    metrics_record(run_id=run.pk, points=[(k, 1, v, wall) for k, v in values.items()])
    page.reload()
    expect(page.locator("#chart .u-legend")).to_contain_text("losses/train_loss")
    assert page.input_value("#chart-key") == live_choice == "losses/train_loss"
    expect(page.locator("#chart-panels .chart-panel h3")).to_have_text(live_panels)


def test_the_indicator_says_finished_once_the_run_has_ended(page, daphne_server, owner):
    run = running_run(owner)
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    indicator = page.locator("#live-state")
    expect(indicator).to_have_text("live")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED)
    event_record(
        run_id=run.pk, type="status", message="run completed", data={"status": "completed"}
    )
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(indicator).to_have_text("finished")
    page.reload()
    expect(indicator).to_have_text("finished")


def test_cursors_move_together_across_panels(page, daphne_server, owner):
    run = running_run(owner)
    record(run, "losses/train_loss", [(s, 1 / (s + 1)) for s in range(50)])
    record(run, "charts/val_accuracy", [(s, 1 - 1 / (s + 1)) for s in range(50)])
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    other = "window.keiseiCharts.panels.get('win-rates')"
    wait_for_js(
        page, f"{PANEL}?.plot?.data[0].length === 50 && {other}?.plot?.data[0].length === 50"
    )
    box = page.locator("[data-panel=losses] .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_for_js(page, f"{other}.plot.cursor.idx !== null && {other}.plot.cursor.idx >= 20")
    assert page.evaluate(f"{other}.plot.cursor.idx === {PANEL}.plot.cursor.idx")


def test_compare_follows_runs_in_training(page, daphne_server, owner):
    runs = []
    for name in ("left", "right"):
        run = running_run(owner)
        Run.objects.filter(pk=run.pk).update(name=name)
        record(run, "losses/train_loss", [(s, 1 / (s + 1)) for s in range(10)])
        runs.append(run)
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/compare/?runs={runs[0].pk},{runs[1].pk}")
    main = "window.keiseiCharts.panels.get('main')"
    wait_for_js(page, f"{main}?.plot?.data[0].length === 10")
    expect(page.locator("#compare-live")).to_have_text("following the runs in training")

    def drawn() -> bool:
        # Live points are not durable: one sent before the page's socket has joined its run's
        # group is lost, so the point is sent again until the chart shows it.
        live.publish_metrics(runs[1].pk, 10, {"losses/train_loss": 0.05})
        assert live.publisher().flush()
        try:
            wait_for_js(page, f"{main}.plot.data[0].length >= 11", timeout=1000)
        except PlaywrightTimeout:
            return False
        return True

    wait_for(drawn, timeout=30, what="the right run's live point on the compare chart")
    assert page.evaluate(f"{main}.plot.data[2][10]") == 0.05  # right's line, not left's
    assert page.evaluate(f"{main}.plot.data[1][10]") is None


def test_a_key_added_as_a_panel_stays_after_a_reload_until_removed(page, daphne_server, owner):
    run = running_run(owner)
    record(run, "losses/train_loss", [(s, 1 / (s + 1)) for s in range(20)])
    record(run, "charts/val_accuracy", [(s, 1 - 1 / (s + 1)) for s in range(20)])
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    added = page.locator("[data-panel='key:charts/val_accuracy']")
    page.select_option("#chart-key", "charts/val_accuracy")
    page.click("#chart-add")
    expect(added.locator("canvas")).to_be_visible()
    wait_for_js(
        page, "window.keiseiCharts.panels.get('key:charts/val_accuracy').plot.data[0].length === 20"
    )
    page.reload()
    expect(added.locator("canvas")).to_be_visible()
    added.locator(".chart-remove").click()
    expect(added).to_have_count(0)
    page.reload()
    expect(page.locator("[data-panel=losses] canvas")).to_be_visible()
    expect(added).to_have_count(0)


def test_clone_and_fork_open_the_prefilled_form_without_queueing(page, daphne_server, owner):
    run = Run.objects.create(
        owner=owner,
        trainer="digits",
        name="source",
        status=RunStatus.COMPLETED,
        config={"learning_rate": 0.005},
    )
    checkpoint = Checkpoint.objects.create(run=run, step=8, kind="final", size=1, sha256="0" * 64)
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    page.click("#clone-link")
    expect(page).to_have_url(f"{daphne_server}/runs/new/?from={run.pk}")
    expect(page.locator("form")).not_to_have_count(0)
    assert Run.objects.count() == 1  # nothing queued by opening the form
    page.go_back()
    page.click(".fork-link")
    expect(page).to_have_url(f"{daphne_server}/runs/new/?from={run.pk}&checkpoint={checkpoint.pk}")
    assert Run.objects.count() == 1
