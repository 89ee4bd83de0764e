"""The league page in a real Chromium: the head-to-head matrix, a recent match's game opening
in the viewer, the ratings chart drawn, a hidden run never named, no sideways scroll on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from runs import services
from runs.models import GameRecord
from tests.browser.test_run_page import log_in
from tests.integration.runs.test_league_page import SECRET, entry_of

pytestmark = pytest.mark.django_db(transaction=True)

MOVES = ["7g7f", "3c3d", "2g2f"]


@pytest.fixture
def league(owner, outsider):
    a = entry_of(owner, "olivia-strong", 100)
    b = entry_of(owner, "olivia-weak", 200)
    hidden = entry_of(outsider, SECRET, 300)
    services.league_record_match(first_id=a.pk, second_id=b.pk, wins=3, draws=1, losses=0)
    match = services.league_record_match(
        first_id=b.pk, second_id=hidden.pk, wins=1, draws=1, losses=2
    )
    game = GameRecord.objects.create(
        run_id=b.checkpoint.run_id,
        source="league",
        black=f"league entry {b.pk}",
        white=f"league entry {hidden.pk}",
        result="black_win",
        plies=len(MOVES),
        start_sfen="startpos",
        moves=MOVES,
    )
    secret_game = GameRecord.objects.create(
        run_id=hidden.checkpoint.run_id,
        source="league",
        black=f"league entry {b.pk}",
        white=f"league entry {hidden.pk}",
        result="black_win",
        plies=len(MOVES),
        start_sfen="startpos",
        moves=MOVES,
    )
    match.game_records.add(game, secret_game)
    return {"a": a, "b": b, "hidden": hidden, "game": game}


def test_matrix_matches_chart_and_a_game_opens_in_the_viewer(page, daphne_server, league):
    log_in(page, daphne_server, "olivia")
    page.goto(daphne_server + "/runs/league/")
    matrix = page.locator("#league-matrix table")
    strong = matrix.locator(f"tr[data-entry='{league['a'].pk}']")
    expect(strong.locator("th")).to_contain_text("olivia-strong")
    expect(strong.locator("td.h2h").filter(has_text="3-1-0")).to_have_count(1)
    expect(matrix.locator(f"tr[data-entry='{league['hidden'].pk}'] th")).to_contain_text(
        "hidden run"
    )
    expect(page.locator("body")).not_to_contain_text(SECRET)
    # the ratings chart is drawn: a canvas and a legend line per visible checkpoint
    expect(page.locator("#rating-chart canvas")).to_have_count(1)
    expect(page.locator("#rating-chart")).to_have_attribute("data-drawn", "2")
    # recent matches: newest first, a human time with the exact one on hover
    first = page.locator("#league-matches li[data-match]").first
    expect(first.locator("time")).to_have_text(re.compile(r"ago$"))
    expect(first.locator("time")).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d "))
    links = first.locator(".league-games a")
    expect(links).to_have_count(1)  # the hidden run's copy of the game is not linked
    links.first.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(
        re.compile(rf"/runs/{league['game'].run_id}/games/{league['game'].pk}/")
    )
    page.wait_for_selector("body[data-viewer-ready]")
    expect(page.locator("#viewer-ply")).to_have_text(f"ply 0 / {len(MOVES)}")


def test_no_sideways_scroll_on_a_phone(browser, daphne_server, league):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in(page, daphne_server, "olivia")
        page.goto(daphne_server + "/runs/league/")
        expect(page.locator("#rating-chart canvas")).to_have_count(1)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the league page is {width} px wide"
    finally:
        context.close()
