"""The showcase in a real Chromium: two players picked on the form, the worker plays their
game, and the page replays it by itself (the ply counter advances with no key pressed), with
pause; no sideways scroll on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from runs.models import Evaluation
from tests.browser.test_run_page import log_in
from tests.integration.runs.test_showcase import checkpoint_of
from tests.support.browser_waits import wait_for_js
from tests.support.shogi import train_tiny_shogi

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi-showcase-browser"))


def ply_of(page) -> int:
    text = page.locator("#showcase-ply").text_content() or ""
    match = re.match(r"ply (\d+) / \d+", text)
    return int(match.group(1)) if match else -1


def test_picked_players_play_and_the_game_replays_by_itself(
    page, daphne_server, celery_worker, owner, tiny_files
):
    mine = checkpoint_of(owner, tiny_files[-1], "showcase-run")
    log_in(page, daphne_server, "olivia")
    page.goto(daphne_server + "/runs/league/")
    page.get_by_role("link", name="Watch a showcase game").click()
    page.select_option("#id_black", str(mine.pk))
    page.select_option("#id_white", "random")
    page.fill("#id_speed", "0.2")
    page.get_by_role("button", name="Play and watch").click()
    expect(page).to_have_url(re.compile(r"/showcase/\d+/\?speed=0\.2$"))
    page.wait_for_selector("body[data-showcase-ready]", timeout=120_000)
    expect(
        page.locator("#viewer-board, #showcase-board").locator("sg-pieces piece").first
    ).to_be_attached()
    # the ply counter advances by itself
    expect(page.locator("#showcase-ply")).not_to_have_text(re.compile(r"^ply 0 /"), timeout=5_000)
    wait_for_js(
        page,
        "() => /^ply ([3-9]|\\d\\d+) \\//.test(document.getElementById('showcase-ply').textContent)"
        " || document.body.dataset.showcasePlaying === 'false'",
        timeout=15_000,
    )
    # paused, it stays where it is
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#showcase-toggle")).to_have_text("Play")
    held = ply_of(page)
    page.wait_for_timeout(600)  # three moves' worth at 0.2 s: none is played while paused
    assert ply_of(page) == held
    assert Evaluation.objects.get().games == 1


def test_a_refused_speed_is_named_and_no_game_is_queued(page, daphne_server, owner, tiny_files):
    mine = checkpoint_of(owner, tiny_files[-1], "showcase-run")
    log_in(page, daphne_server, "olivia")
    page.goto(daphne_server + "/runs/league/showcase/")
    page.select_option("#id_black", str(mine.pk))
    page.fill("#id_speed", "50")
    page.get_by_role("button", name="Play and watch").click()
    expect(page.locator("#showcase-errors")).to_contain_text("speed")
    expect(page.locator("#err_speed")).to_contain_text("from 0.1 to 10")
    assert not Evaluation.objects.exists()


def test_no_sideways_scroll_on_a_phone(browser, daphne_server, owner, tiny_files):
    checkpoint_of(owner, tiny_files[-1], "a showcase run with a rather long name for a phone")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in(page, daphne_server, "olivia")
        page.goto(daphne_server + "/runs/league/showcase/")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the showcase form is {width} px wide"
    finally:
        context.close()
