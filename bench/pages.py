"""How fast do the pages load and the live charts update, in Chromium?

A throwaway embedded PostgreSQL and Redis, the static files collected (and bundled) into the
bench's folder, a real Daphne, and Debian's Chromium driven by Playwright (headless, each load
in a new browser context: nothing cached in the browser; the server is warmed by one load).

- ``runs_list_load_ms``: the runs list of a user with 100 runs (each with a win-rate history
  for its sparkline), from navigation to the load event; median of the loads (goal <= 1000).
- ``run_page_load_ms``: the run page of a run with a 1M-point series (3 keys; ``--quick``:
  200,000 points each, named in ``points_per_key``), from navigation until every chart panel
  has drawn its downsampled history; median (goal <= 1000).
- ``chart_update_ms_p95``: with that run page open and the run training, metric points are
  published live (several keys, as a trainer sends them); the main-thread time of each chart
  update (the ``keisei:chart-update`` measure of static/js/charts.js: every touched panel's
  redraw) at the 95th percentile (goal <= 16: within one frame).

Prints one JSON object as its last line. ``--quick``: smaller series, fewer loads and updates.

    .venv/bin/python bench/pages.py              # a few minutes, most of it writing 3M points
    .venv/bin/python bench/pages.py --quick      # about 2 minutes on a busy machine
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from _stack import django_stack, percentile
from history import fill

CHROMIUM = os.environ.get("KEISEI_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "bench-only-password"
LIST_RUNS = 100
KEYS = ("losses/policy_loss", "losses/value_loss", "charts/win_rate")
# A trainer's live message carries many keys; these land in the run page's panels.
LIVE_KEYS = (*KEYS, "losses/entropy", "losses/approx_kl", "time/positions_per_s")
# Every panel has drawn its history (static/js/run_page.js exposes the board of panels).
PANELS_DRAWN = """() => {
  const board = window.keiseiCharts;
  if (!board || board.panels.size === 0) return false;
  return [...board.panels.values()].every((p) => p.plot && p.plot.data[0].length > 1);
}"""
COLLECT_UPDATES = """
  window.keiseiUpdates = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if (e.name === "keisei:chart-update") window.keiseiUpdates.push(e.duration);
  }).observe({ type: "measure" });
"""


def setup(points: int) -> tuple[str, int]:
    """The user, 100 runs for the list and the large run; (username, large run id)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from monitoring.services import metrics_rollups_rebuild
    from runs.models import Run, RunStatus

    call_command("collectstatic", "--noinput", "-v", "0")
    user = get_user_model().objects.create_user("bench-pages", password=PASSWORD)
    runs = Run.objects.bulk_create(
        Run(owner=user, trainer="shogi-ppo", config={}, name=f"run {i}", status=RunStatus.COMPLETED)
        for i in range(LIST_RUNS)
    )
    for run in runs:
        fill(run.pk, "charts/win_rate", 500)
    large = Run.objects.create(
        owner=user, trainer="shogi-ppo", config={}, name="large", status=RunStatus.RUNNING
    )
    for key in KEYS:
        fill(large.pk, key, points)
    for run in (*runs, large):
        metrics_rollups_rebuild(run_id=run.pk)
    return user.get_username(), large.pk


def log_in(context, base: str, username: str) -> None:
    page = context.new_page()
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/runs/")
    page.close()


# Playwright's wait_for_function (polled every frame here, to time the page by its own clock)
# builds its predicate with eval, which the site's Content-Security-Policy refuses; the bench
# times loading and drawing, so its contexts do not enforce the policy. The browser tests do.
CONTEXT = {"viewport": {"width": 1280, "height": 800}, "bypass_csp": True}


def load_ms(browser, base: str, username: str, path: str, ready: str | None) -> float:
    """One load of ``path`` in a new context (signed in, nothing cached): ms from navigation
    to the load event, or until ``ready`` (a JS function) is true."""
    context = browser.new_context(**CONTEXT)
    try:
        log_in(context, base, username)
        page = context.new_page()
        page.goto(base + path, wait_until="load")
        if ready is None:
            return page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
        # polled every animation frame: the time is the page's own clock when it became true
        page.wait_for_function(ready, polling="raf", timeout=60_000)
        return page.evaluate("performance.now()")
    finally:
        context.close()


def chart_updates(browser, base: str, username: str, run_id: int, count: int) -> list[float]:
    """Main-thread ms of ``count`` live chart updates on the open run page."""
    from monitoring import live

    context = browser.new_context(**CONTEXT)
    try:
        log_in(context, base, username)
        page = context.new_page()
        page.add_init_script(COLLECT_UPDATES)
        page.goto(f"{base}/runs/{run_id}/")
        page.wait_for_function(PANELS_DRAWN, timeout=60_000)
        page.wait_for_function("document.getElementById('live-state').dataset.state === 'live'")
        step = 10_000_000
        for i in range(count):
            step += 1
            values = {key: 1.0 / (1 + i % 50) for key in LIVE_KEYS}
            live.publish_metrics(run_id, step, values)
            live.publisher().flush()
            page.wait_for_function(f"window.keiseiUpdates.length > {i}", timeout=10_000)
        return page.evaluate("window.keiseiUpdates")
    finally:
        context.close()


def measure(points: int, loads: int, updates: int, env: dict[str, str]) -> dict:
    from fanout import start_daphne
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS  # the checkout's root is on the path

    started = time.perf_counter()
    username, large_id = setup(points)
    setup_s = time.perf_counter() - started
    daphne, ws_base = start_daphne(env)
    base = ws_base.replace("ws://", "http://")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            run_page = f"/runs/{large_id}/"
            # one load of each first: Daphne's code paths and connections warm
            load_ms(browser, base, username, "/runs/", None)
            load_ms(browser, base, username, run_page, PANELS_DRAWN)
            lists = [load_ms(browser, base, username, "/runs/", None) for _ in range(loads)]
            pages = [load_ms(browser, base, username, run_page, PANELS_DRAWN) for _ in range(loads)]
            updated = chart_updates(browser, base, username, large_id, updates)
            browser.close()
        daphne.ensure_alive()
    finally:
        daphne.stop()
    return {
        "runs_list_load_ms": round(statistics.median(lists)),
        "runs_list_load_ms_max": round(max(lists)),
        "run_page_load_ms": round(statistics.median(pages)),
        "run_page_load_ms_max": round(max(pages)),
        "chart_update_ms_p95": round(percentile(updated, 95), 2),
        "chart_update_ms_p50": round(percentile(updated, 50), 2),
        "chart_updates": len(updated),
        "loads": loads,
        "list_runs": LIST_RUNS,
        "points_per_key": points,
        "keys": len(KEYS),
        "setup_s": round(setup_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller series, fewer loads")
    opts = parser.parse_args()
    points, loads, updates = (200_000, 3, 40) if opts.quick else (1_000_000, 7, 120)
    with django_stack() as env:
        result = measure(points, loads, updates, env)
    result["quick"] = opts.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
