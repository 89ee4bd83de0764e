"""Playing a checkpoint in a real Chromium: the form started from a checkpoint's link, moves
made by clicking squares on the board and answered by the network, an illegal move typed in
refused with its reason, then resignation: the result, and the stored record's KIF."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from play.models import PlayGame
from tests.browser.test_every_page import audit
from tests.browser.test_run_page import log_in
from tests.integration.play.test_play_api import checkpoint_of
from tests.support.browser_waits import wait_for_js
from tests.support.shogi import train_tiny_shogi

pytestmark = pytest.mark.django_db(transaction=True)

# Black's quiet first moves, tried in order: one of them is legal whatever the network plays.
PUSHES = ["7g7f", "2g2f", "6g6f", "3g3f", "1g1f", "9g9f", "4g4f", "8g8f", "5g5f"]


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi-play-browser"))


def click_square(page, square: str) -> None:
    """A click in the middle of ``square`` ("7g") of a board seen from Black's side."""
    box = page.locator("#play-board sg-squares").bounding_box()
    assert box is not None
    file, rank = int(square[0]), "abcdefghi".index(square[1])
    page.mouse.click(
        box["x"] + (9 - file + 0.5) * box["width"] / 9,
        box["y"] + (rank + 0.5) * box["height"] / 9,
    )


def ply_shown(page) -> int:
    return int(page.evaluate("document.body.dataset.playPly"))


def test_a_game_is_played_by_clicks_to_its_end(page, daphne_server, owner, tiny_files):
    checkpoint = checkpoint_of(owner, tiny_files[-1], "played in the browser")
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/play/?checkpoint={checkpoint.pk}")
    expect(page.locator("#id_checkpoint")).to_have_value(str(checkpoint.pk))
    assert not audit(page)
    page.get_by_role("button", name="Start the game").click()
    expect(page).to_have_url(re.compile(r"/play/\d+/$"))
    wait_for_js(page, "() => document.body.dataset.playReady === 'true'")
    expect(page.locator("#play-status")).to_have_text("Your move.")
    expect(page.locator("#play-top-moves li")).to_have_count(5)  # the start, analysed
    assert not audit(page)

    for turn in range(3):
        game = PlayGame.objects.get()
        move = next(m for m in PUSHES if m in game.state["legal_moves"])
        click_square(page, move[:2])
        click_square(page, move[2:])
        wait_for_js(page, f"() => Number(document.body.dataset.playPly) === {2 * turn + 2}")
        expect(page.locator("#play-status")).to_have_text("Your move.")
        game.refresh_from_db()
        assert game.moves[2 * turn] == move and game.ply == 2 * turn + 2
        expect(page.locator("#play-model-move")).to_have_text(f"Its last move: {game.moves[-1]}")
        expect(page.locator("#play-moves li")).to_have_count(game.ply)
        expect(page.locator("#play-top-moves li")).to_have_count(5)
        expect(page.locator("#play-value")).to_contain_text("Your expected score")

    # A move typed in that the rules refuse: the reason, and nothing played.
    page.fill("#play-move", "5i5a")
    page.get_by_role("button", name="Play", exact=True).click()
    expect(page.locator("#play-error")).to_have_text(
        "5i5a is not legal here: the king on 5i cannot move to 5a"
    )
    assert ply_shown(page) == 6 and PlayGame.objects.get().ply == 6

    page.get_by_role("button", name="Resign").click()
    expect(page.locator("#play-status")).to_have_text(
        "Game over: you lost (resignation) after 6 plies."
    )
    expect(page.locator("#play-result")).to_be_visible()
    game = PlayGame.objects.get()
    assert game.status == "finished" and game.record is not None
    kif = page.locator("#play-record-links").get_by_role("link", name="KIF")
    expect(kif).to_have_attribute("href", f"/runs/{checkpoint.run_id}/games/{game.record.pk}.kif")
    download = page.request.get(daphne_server + kif.get_attribute("href"))
    assert download.status == 200 and "投了" in download.text()
    page.locator("#play-record-links").get_by_role("link", name="the game page").click()
    expect(page.locator("#game-summary")).to_contain_text("6 plies")


def test_a_refused_start_names_the_field_and_no_game_is_made(
    page, daphne_server, owner, tiny_files
):
    checkpoint = checkpoint_of(owner, tiny_files[-1], "refused start")
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/play/?checkpoint={checkpoint.pk}")
    page.check("input[name=mode][value=sampled]")
    page.fill("#id_temperature", "9")
    page.get_by_role("button", name="Start the game").click()
    expect(page.locator("#play-errors")).to_contain_text("temperature")
    expect(page.locator("#err_temperature")).to_have_text("a number from 0.05 to 5")
    assert not PlayGame.objects.exists()


def test_no_sideways_scroll_on_a_phone(browser, daphne_server, owner, tiny_files):
    checkpoint = checkpoint_of(owner, tiny_files[-1], "a run with a rather long name for a phone")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in(page, daphne_server, "olivia")
        page.goto(f"{daphne_server}/play/?checkpoint={checkpoint.pk}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.get_by_role("button", name="Start the game").click()
        wait_for_js(page, "() => document.body.dataset.playReady === 'true'")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the game page is {width} px wide"
    finally:
        context.close()
