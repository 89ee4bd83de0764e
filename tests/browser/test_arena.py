"""The arena in a real Chromium against Daphne (issue 17, part 4): three live games at once,
their boards updating, only the runs the user may see; one chosen opens large with its moves
and the analysis of its run. The boards are published as the worker's feeds publish them
(``runs.services.arena.ArenaFeed`` over the real channel layer); that a real evaluation job
and a run's self-play do publish is tests/integration/runs/test_arena.py's."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from runs.models import Run, RunStatus
from runs.services.arena import ArenaFeed
from tests.browser.test_run_page import log_in

pytestmark = pytest.mark.django_db(transaction=True)

START = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"
AFTER_ONE = "lnsgkgsnl/1r5b1/ppppppppp/9/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL w - 2"
AFTER_TWO = "lnsgkgsnl/1r5b1/pppppp1pp/6p2/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL b - 3"


def board(sfen: str, moves: list[str], game: int = 0) -> dict:
    return {
        "sfen": sfen,
        "last_move": moves[-1] if moves else None,
        "moves": moves,
        "ply": len(moves),
        "side_to_move": "black" if len(moves) % 2 == 0 else "white",
        "in_check": False,
        "game": game,
        "agent_black": True,
    }


def feed(run: Run, game: str, source: str, players, ratings) -> ArenaFeed:
    # interval 0: the test sends each board on purpose (the throttle is the unit test's)
    return ArenaFeed(
        run_id=run.pk,
        owner_id=run.owner_id,
        game=game,
        source=source,
        title=run.display_name,
        players=players,
        ratings=ratings,
        interval=0.0,
    )


def test_three_live_games_at_once_and_one_opened_large(page, daphne_server, owner, outsider):
    def run_of(user, name):
        return Run.objects.create(
            owner=user, trainer="shogi-ppo", config={}, name=name, status=RunStatus.RUNNING
        )

    first, second, third = (run_of(owner, n) for n in ("alpha", "beta", "gamma"))
    hidden = run_of(outsider, "oscar's")
    feeds = [
        feed(first, f"selfplay:{first.pk}", "selfplay", ("self-play", "self-play"), (None, None)),
        feed(second, "evaluation:7", "evaluation", ("checkpoint 3", "random"), (1234.5, 1000.0)),
        feed(third, "league:1:2:3", "league", ("league entry 1", "anchor greedy"), (1500, 2000)),
        feed(hidden, "evaluation:8", "evaluation", ("secret", "random"), (None, 1000.0)),
    ]
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/arena/")
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("#arena-empty")).to_be_visible()
    for f in feeds:
        f(board(AFTER_ONE, ["7g7f"]))
    tiles = page.locator("#arena-grid .arena-game")
    expect(tiles).to_have_count(3)
    beta = page.locator("#arena-grid .arena-game[data-game='evaluation:7']")
    expect(beta.locator("h3")).to_have_text("evaluation · beta")
    expect(beta.locator(".arena-players")).to_have_text("☗ checkpoint 3 (1235) – ☖ random (1000)")
    expect(page.locator(".arena-game[data-game='evaluation:8']")).to_have_count(0)
    expect(page.locator("#arena-grid")).not_to_contain_text("secret")
    expect(page.locator("#arena-empty")).to_be_hidden()
    # Each board draws its position (40 pieces, none taken yet).
    expect(beta.locator("sg-pieces piece")).to_have_count(40)
    # The boards update: the league game plays on, the others stay.
    feeds[2](board(AFTER_TWO, ["7g7f", "3c3d"]))
    gamma = page.locator(".arena-game[data-game='league:1:2:3']")
    expect(gamma).to_have_attribute("data-ply", "2")
    expect(gamma.locator(".board-caption")).to_contain_text("ply 2")
    expect(beta).to_have_attribute("data-ply", "1")
    # Chosen: large, with its moves and its run's analysis; it follows the game.
    gamma.click()
    large = page.locator("#arena-large")
    expect(large).to_be_visible()
    expect(page.locator("#arena-large-title")).to_have_text("league · gamma")
    expect(page.locator("#arena-players")).to_contain_text("league entry 1 (1500)")
    expect(page.locator("#arena-moves li")).to_have_count(2)
    expect(page.locator("#arena-run-link")).to_have_attribute("href", f"/runs/{third.pk}/")
    analysis = page.locator("#arena-analysis-slot .analysis")
    expect(analysis).to_have_attribute("data-run", str(third.pk))
    feeds[2](board(AFTER_TWO, ["7g7f", "3c3d", "2g2f"]))
    expect(page.locator("#arena-moves li")).to_have_count(3)
    expect(large).to_have_attribute("data-ply", "3")
    # Switched on, the analysis asks the run's newest checkpoint (it has none yet: said so;
    # the first answer of a web process waits for it to load the engine).
    page.check("#arena-analysis-slot .analysis-on")
    expect(analysis.locator(".analysis-status")).to_contain_text(
        "No checkpoint yet", timeout=60_000
    )
    # A finished game says so.
    feeds[1].finish()
    expect(beta).to_have_class("card arena-game shogi-board finished")
    expect(beta.locator(".board-caption")).to_contain_text("finished")
