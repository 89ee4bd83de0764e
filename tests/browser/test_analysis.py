"""Analysis on the board in a real Chromium, from a real checkpoint of a tiny trained run: in
the viewer, the evaluation bar, the win-probability graph and the top moves follow the ply
shown, a hovered move draws its arrow and the heatmap colours squares; on the run page the
live board is analysed by the newest checkpoint at most once a second, or says there is none."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from runs import services
from runs.models import GameRecord, Run, RunStatus
from tests.browser.test_every_page import audit
from tests.browser.test_run_page import log_in
from tests.support.browser_waits import wait_for_js
from tests.support.shogi import TINY_SHOGI, train_tiny_shogi

pytestmark = pytest.mark.django_db(transaction=True)

START = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"
MOVES = ["7g7f", "3c3d", "8h2b+", "3a2b", "B*5e", "5a4b"]


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi-analysis-browser"))


def run_with_checkpoints(owner, tiny_files, *, status=RunStatus.COMPLETED) -> Run:
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config=TINY_SHOGI, name="analysed", status=status
    )
    for info in (tiny_files[0], tiny_files[-1]):
        services.checkpoint_record(run_id=run.pk, info=info)
    return run


def bar_value(page) -> str:
    return page.locator("#viewer-board .eval-bar").get_attribute("data-black-win") or ""


def top_moves(page) -> list[str]:
    return page.locator("#analysis .analysis-moves button").evaluate_all(
        "(buttons) => buttons.map((b) => b.dataset.usi)"
    )


def test_the_viewer_shows_the_eval_bar_graph_and_top_moves_and_they_follow_the_ply(
    page, daphne_server, owner, tiny_files
):
    run = run_with_checkpoints(owner, tiny_files)
    record = GameRecord.objects.create(
        run=run,
        source="sample",
        step=run.checkpoints.order_by("-step").first().step,
        black="shogi-ppo",
        white="random",
        result="unfinished",
        plies=len(MOVES),
        start_sfen=START,
        moves=MOVES,
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/games/{record.pk}/")
    page.wait_for_selector("body[data-viewer-ready]")
    bar = page.locator("#viewer-board .eval-bar")
    expect(bar).to_be_hidden()  # off until asked for: the page asks the server nothing
    assert not page.evaluate("document.querySelector('.analysis-graph canvas')")

    page.get_by_label("Analysis").check()
    expect(bar).to_be_visible()
    expect(page.locator("#analysis")).to_have_attribute("data-analysed-ply", "0")
    expect(page.locator("#analysis .analysis-status")).to_contain_text("which played this game")
    graph = page.locator("#analysis .analysis-graph")
    expect(graph.locator("canvas")).to_have_count(1)
    expect(graph).to_have_attribute("data-points", str(len(MOVES) + 1))
    first_value, first_moves = bar_value(page), top_moves(page)
    assert 0 <= float(first_value) <= 1 and len(first_moves) == 3
    assert all(m[1] != "*" and m[3] in "abcdefghi" for m in first_moves)
    # Written in the viewer's notation (Japanese by default), and again when it changes.
    written = page.locator("#analysis .analysis-moves button .usi")
    expect(written.first).to_have_text(re.compile(r"^☗[１-９][一二三四五六七八九]"))
    page.get_by_label("Western").check()
    expect(written.first).to_have_text(re.compile(r"^☗[A-Z+]"))
    assert written.first.inner_text() != first_moves[0]
    page.get_by_label("USI").check()
    expect(written.first).to_have_text(first_moves[0])
    page.get_by_label("Japanese").check()
    page.locator("h1").click()  # arrow keys in the notation radios belong to them

    # Scrubbing: the bar and the moves are the new ply's (White to move: White's moves).
    page.keyboard.press("ArrowRight")
    expect(page.locator("#analysis")).to_have_attribute("data-analysed-ply", "1")
    assert top_moves(page) != first_moves and bar_value(page) != first_value
    assert page.get_attribute("#viewer-board .eval-bar", "aria-valuetext").startswith("Black")

    # Hovering a candidate draws its arrow on the board; leaving takes it away.
    page.locator("#analysis .analysis-moves button").first.hover()
    expect(page.locator("#viewer-board svg.sg-shapes g.analysis line")).to_have_count(1)
    page.locator("h1").hover()
    expect(page.locator("#viewer-board svg.sg-shapes g.analysis line")).to_have_count(0)

    # The heatmap colours the squares the policy moves to.
    page.get_by_label("Policy heatmap").check()
    expect(page.locator("#viewer-board sq.heat").first).to_be_attached()

    # Another checkpoint of the run, chosen from the list, answers for the same ply.
    options = page.locator("#analysis-checkpoint option")
    expect(options).to_have_count(2)
    page.select_option("#analysis-checkpoint", index=1)
    expect(page.locator("#analysis .analysis-status")).to_contain_text("(chosen)")

    # With every part of it shown, axe-core finds no serious violation.
    assert audit(page) == []

    # The switch is remembered: a reload opens with the analysis on.
    page.reload()
    page.wait_for_selector("body[data-viewer-ready]")
    expect(page.locator("#viewer-board .eval-bar")).to_be_visible()
    expect(page.locator("#analysis .analysis-graph canvas")).to_have_count(1)

    # On a phone the graph follows its card: no sideways scroll.
    page.set_viewport_size({"width": 390, "height": 900})
    wait_for_js(
        page, "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def publish(run_id: int, moves: list[str], ply_sfens: list[str]) -> None:
    from monitoring import live

    for ply, sfen in enumerate(ply_sfens):
        live.publish_board(
            run_id,
            {
                "sfen": sfen,
                "last_move": moves[ply - 1] if ply else None,
                "moves": moves[:ply],
                "ply": ply,
                "side_to_move": "black" if " b " in sfen else "white",
                "in_check": False,
                "game": 0,
            },
        )
    assert live.publisher().flush()


def positions(moves: list[str]) -> list[str]:
    import cshogi

    board = cshogi.Board()
    out = [board.sfen()]
    for move in moves:
        board.push_usi(move)
        out.append(board.sfen())
    return out


def test_the_live_board_is_analysed_by_the_newest_checkpoint_at_most_once_a_second(
    page, daphne_server, owner, tiny_files
):
    run = run_with_checkpoints(owner, tiny_files, status=RunStatus.RUNNING)
    asked: list[float] = []
    page.on(
        "request",
        lambda request: asked.append(time.monotonic()) if "/analysis/" in request.url else None,
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    page.get_by_label("Analysis").check()
    sfens = positions(MOVES)
    publish(run.pk, MOVES, sfens[:1])
    bar = page.locator("#live-board .eval-bar")
    expect(bar).to_be_visible()
    expect(page.locator("#analysis")).to_have_attribute("data-analysed-sfen", sfens[0])
    assert 0 <= float(bar.get_attribute("data-black-win")) <= 1
    expect(page.locator("#analysis .analysis-status")).to_contain_text("newest checkpoint")
    expect(page.locator("#analysis .analysis-moves button")).to_have_count(5)

    # Positions at the board's live rate: the newest is analysed, never more than 1/s.
    started = time.monotonic()
    for i in range(1, len(sfens)):
        publish(run.pk, MOVES, [sfens[i]])
        page.wait_for_timeout(250)  # the board's own pace (4 positions a second)
    expect(page.locator("#analysis")).to_have_attribute(
        "data-analysed-sfen", sfens[-1], timeout=10_000
    )
    during = [t for t in asked if t >= started]
    elapsed = time.monotonic() - started
    assert 1 <= len(during) <= elapsed + 1, (len(during), elapsed)
    gaps = [b - a for a, b in zip(asked, asked[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps


def test_a_live_run_without_a_checkpoint_says_so(page, daphne_server, owner):
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config=TINY_SHOGI, name="new", status=RunStatus.RUNNING
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    page.get_by_label("Analysis").check()
    publish(run.pk, [], positions([])[:1])
    expect(page.locator("#analysis .analysis-status")).to_contain_text("No checkpoint yet")
    expect(page.locator("#analysis")).to_have_attribute("data-analysis-error", "no_checkpoint")


def test_a_training_shogi_run_is_analysed_live_once_it_has_a_checkpoint(
    page, daphne_server, celery_worker, owner
):
    from tests.integration.runs.test_shogi_run import SMALL

    run = services.run_queue(
        owner=owner, trainer="shogi-ppo", config={**SMALL, "checkpoint_every": 1}
    )
    try:
        log_in(page, daphne_server, "olivia")
        page.goto(f"{daphne_server}/runs/{run.pk}/")
        page.get_by_label("Analysis").check()
        # The run's own self-play, analysed by its newest checkpoint (a "no checkpoint yet"
        # before its first is retried).
        bar = page.locator("#live-board .eval-bar")
        expect(bar).to_have_attribute(
            "data-black-win", re.compile(r"^[01]\.\d{4}$"), timeout=90_000
        )
        expect(page.locator("#analysis .analysis-status")).to_contain_text("newest checkpoint")
        expect(page.locator("#analysis .analysis-moves button").first).to_be_visible()
    finally:
        services.command_request(run=run, user=owner, kind="stop", params={})
