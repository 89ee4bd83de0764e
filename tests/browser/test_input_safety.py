"""In a real Chromium: markup typed by users never runs, on any page that shows it, nor when
live updates put it into the page. Runs named ``<img src=x onerror=alert(1)>`` (with such
notes, tags, config strings, game players and timeline messages) are shown on the runs list,
the run page, compare, the league, the game viewer and the admin; a live timeline message and
a dashboard status carry markup over the WebSocket, and a run queued meanwhile brings the
runs table in again. No dialog ever opens, and the literal text is what the reader sees."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from monitoring.services import event_record
from runs.models import Run, RunStatus
from tests.browser.test_run_page import log_in
from tests.support.hostile import EVIL, EVIL_NOTES, evil_runs
from tests.support.runs import running_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dialogs(page) -> list[str]:
    """Every dialog the page opens (alert, confirm, prompt), dismissed and recorded."""
    opened: list[str] = []

    def record(dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return opened


def shows(page, text: str) -> None:
    expect(page.get_by_text(text, exact=False).first).to_be_visible()


def nothing_injected(page) -> None:
    """No element from the users' markup exists: a CSP would stop it running, but escaping
    means it is never even built."""
    injected = 'img[src="x"], svg[onload], script:not([src]):not([type])'
    expect(page.locator(injected)).to_have_count(0)


def settle(page) -> None:
    page.wait_for_load_state("load")
    page.wait_for_timeout(0)  # the page's module scripts have run once


def test_markup_in_names_tags_notes_and_config_never_runs(
    page, dialogs, daphne_server, owner, tmp_path
):
    first, second = evil_runs(owner, tmp_path)
    game = first.game_records.get()
    log_in(page, daphne_server, "olivia")
    pages = {
        "runs list": "/runs/",
        "run page": f"/runs/{first.pk}/",
        "compare": f"/runs/compare/?runs={first.pk},{second.pk}",
        "league": "/runs/league/",
        "game viewer": f"/runs/{first.pk}/games/{game.pk}/",
    }
    for path in pages.values():
        page.goto(daphne_server + path)
        settle(page)
        shows(page, EVIL)
        nothing_injected(page)
    page.goto(f"{daphne_server}/runs/{first.pk}/")
    page.locator("details").evaluate_all("ds => ds.forEach(d => d.open = true)")
    shows(page, EVIL_NOTES)
    assert dialogs == [], dialogs


def test_markup_never_runs_in_the_admin(page, dialogs, daphne_server, owner, tmp_path):
    from django.contrib.auth import get_user_model

    from tests.conftest import PASSWORD

    get_user_model().objects.create_superuser("root-admin", password=PASSWORD)
    first, _ = evil_runs(owner, tmp_path)
    log_in(page, daphne_server, "root-admin")
    for path in ("/admin/runs/run/", f"/admin/runs/run/{first.pk}/change/"):
        page.goto(daphne_server + path)
        settle(page)
        expect(page.locator("#content")).to_contain_text(EVIL)
        nothing_injected(page)
    assert dialogs == [], dialogs


def test_live_updates_put_markup_in_as_text(page, dialogs, daphne_server, owner):
    run = running_run(owner)
    Run.objects.filter(pk=run.pk).update(name=EVIL)
    log_in(page, daphne_server, "olivia")

    # the run page's timeline, extended live over /ws/runs/<id>/
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    event_record(run_id=run.pk, type="log", message=f"note {EVIL}", owner_id=owner.pk)
    expect(page.locator("#timeline")).to_contain_text(f"note {EVIL}")
    nothing_injected(page)

    # the dashboard: a status in place, then a run it has not listed brings the table again
    page.goto(f"{daphne_server}/runs/")
    until_shown(
        page,
        lambda: event_record(
            run_id=run.pk, type="status", message="", data={"status": EVIL}, owner_id=owner.pk
        ),
        page.locator(f'#runs-table tr[data-run="{run.pk}"] .status'),
        EVIL,
    )
    newcomer = Run.objects.create(
        owner=owner, trainer="digits", config={}, name=EVIL + " new", status=RunStatus.QUEUED
    )
    event_record(
        run_id=newcomer.pk, type="status", message="", data={"status": "queued"}, owner_id=owner.pk
    )
    expect(page.locator(f'#runs-table tr[data-run="{newcomer.pk}"]')).to_contain_text(EVIL + " new")
    assert dialogs == [], dialogs


def until_shown(page, send, locator, text: str, timeout: float = 30.0) -> None:
    """``send()`` again until ``locator`` shows ``text``: a message sent before the page's
    socket has joined its group is not replayed (transient), so it is sent once more."""
    deadline = time.monotonic() + timeout
    while True:
        send()
        try:
            expect(locator).to_contain_text(text, timeout=2_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
