"""The board and the game viewer in a real Chromium on a machine with no Japanese font: the
pieces are drawn in the bundled font, the coordinates read 1 / 一 at the top right, and a
stored game is replayed move by move from the keyboard in the notation the user chose."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from runs.models import GameRecord, Run, RunStatus
from tests.browser.test_run_page import log_in

pytestmark = pytest.mark.django_db(transaction=True)

START = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"
# A short opening with a promotion that checks, a recapture (同), a piece in hand and a drop.
MOVES = ["7g7f", "3c3d", "8h3c+", "4a4b", "3c4b", "5a4b", "G*5b"]


@pytest.fixture
def stored_game(owner):
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, name="viewer", status=RunStatus.COMPLETED
    )
    record = GameRecord.objects.create(
        run=run,
        source="sample",
        step=64,
        black="checkpoint@64",
        white="random",
        result="unfinished",
        reason="max_plies",
        plies=len(MOVES),
        start_sfen=START,
        moves=MOVES,
        kif="kif text",
        csa="csa text",
    )
    return run, record


def open_viewer(page, base: str, run, record) -> None:
    log_in(page, base, "olivia")
    page.goto(f"{base}/runs/{run.pk}/games/{record.pk}/")
    page.wait_for_selector("body[data-viewer-ready]")


def piece_at(page, left: bool, top: bool) -> str:
    """The class of the piece drawn nearest a corner of the board."""
    return page.evaluate(
        """([left, top]) => {
          const board = document.querySelector('#viewer-board sg-board').getBoundingClientRect();
          const x = left ? board.left : board.right, y = top ? board.top : board.bottom;
          let best = null, bestDistance = Infinity;
          for (const piece of document.querySelectorAll('#viewer-board sg-pieces piece')) {
            const r = piece.getBoundingClientRect();
            const d = Math.hypot((r.left + r.right) / 2 - x, (r.top + r.bottom) / 2 - y);
            if (d < bestDistance) { best = piece; bestDistance = d; }
          }
          return best.className;
        }""",
        [left, top],
    )


def test_pieces_are_drawn_in_the_bundled_font_and_coordinates_read_from_the_top_right(
    page, daphne_server, stored_game
):
    run, record = stored_game
    open_viewer(page, daphne_server, run, record)
    page.evaluate("document.fonts.ready")
    font = page.evaluate(
        """async () => {
          await document.fonts.load('32px "Noto Serif JP"', '歩香玉');
          const piece = document.querySelector('#viewer-board piece.pawn');
          return {
            family: getComputedStyle(piece, '::after').fontFamily,
            loaded: [...document.fonts].some(
              (f) => f.family.replace(/"/g, '') === 'Noto Serif JP' && f.status === 'loaded'),
            check: document.fonts.check('32px "Noto Serif JP"', '歩香玉'),
          };
        }"""
    )
    assert font["family"].startswith('"Noto Serif JP"'), font
    assert font["loaded"] and font["check"], font
    # Without a font for them every kanji is the same empty box: the pieces' font must draw
    # 歩 and 香 differently, and each differently from a glyph no font has.
    drawn = page.evaluate(
        """(family) => {
          const draw = (text) => {
            const canvas = document.createElement('canvas');
            canvas.width = canvas.height = 64;
            const context = canvas.getContext('2d');
            context.font = `48px ${family}`;
            context.fillText(text, 4, 52);
            return canvas.toDataURL();
          };
          const missing = String.fromCodePoint(0xF0000);  // a private-use glyph no font has
          return { pawn: draw('歩'), lance: draw('香'), missing: draw(missing) };
        }""",
        font["family"],
    )
    assert len({drawn["pawn"], drawn["lance"], drawn["missing"]}) == 3

    # Seen from sente: gote's lance on 1一 at the top right, sente's on 9九 at the bottom left.
    assert "gote lance" in piece_at(page, left=False, top=True)
    assert "sente lance" in piece_at(page, left=True, top=False)
    labels = page.evaluate(
        """() => {
          const read = (sel) => [...document.querySelectorAll(sel)]
            .map((c) => ({ text: c.textContent, box: c.getBoundingClientRect() }));
          const box = (sel) => document.querySelector(sel).getBoundingClientRect();
          return { files: read('#viewer-board coords.files coord'),
                   ranks: read('#viewer-board coords.ranks coord'),
                   board: box('#viewer-board sg-board'),
                   hand: box('#viewer-board .hand-gote') };
        }"""
    )
    files = sorted(labels["files"], key=lambda c: c["box"]["x"])
    ranks = sorted(labels["ranks"], key=lambda c: c["box"]["y"])
    assert [c["text"] for c in files] == list("987654321")
    assert [c["text"] for c in ranks] == list("一二三四五六七八九")
    board, hand = labels["board"], labels["hand"]
    assert all(c["box"]["bottom"] <= board["top"] + 1 for c in files), "files above the board"
    assert all(c["box"]["left"] >= board["right"] - 1 for c in ranks), "ranks right of it"
    # No label reaches into gote's hand above the board.
    assert all(c["box"]["top"] >= hand["bottom"] - 1 for c in files), (files[0], hand)


def test_a_stored_game_is_replayed_from_the_keyboard_in_the_chosen_notation(
    page, daphne_server, stored_game
):
    run, record = stored_game
    open_viewer(page, daphne_server, run, record)
    ply = page.locator("#viewer-ply")
    moves = page.locator("#move-list button")
    current = page.locator('#move-list button[aria-current="true"]')
    expect(ply).to_have_text("ply 0 / 7")
    expect(moves).to_have_count(7)
    expect(page.locator("#viewer-board sq.last-dest")).to_have_count(0)
    expect(page.locator("#viewer-board .hand-sente")).to_have_text("☗ なし")

    page.keyboard.press("ArrowRight")
    expect(ply).to_have_text("ply 1 / 7")
    expect(current).to_have_attribute("data-ply", "1")
    expect(page.locator("#viewer-board sq.last-dest")).to_have_count(2)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(ply).to_have_text("ply 3 / 7")
    expect(page.locator("#viewer-caption")).to_contain_text("check")
    expect(page.locator("#viewer-board sq.check")).to_have_count(1)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#viewer-board .hand-sente")).to_have_text("☗ 金")
    page.keyboard.press("End")
    expect(ply).to_have_text("ply 7 / 7")
    expect(page.locator("#viewer-board .hand-sente")).to_have_text("☗ なし")  # the gold dropped
    page.keyboard.press("ArrowRight")  # past the end: stays
    expect(ply).to_have_text("ply 7 / 7")
    page.keyboard.press("Home")
    expect(ply).to_have_text("ply 0 / 7")
    page.keyboard.press("ArrowLeft")
    expect(ply).to_have_text("ply 0 / 7")
    moves.nth(4).click()
    expect(ply).to_have_text("ply 5 / 7")
    expect(page).to_have_url(re.compile(r"#ply=5$"))

    # Japanese by default, then Western, remembered across a reload, then USI.
    expect(moves.nth(0)).to_contain_text("☗７六歩")
    expect(moves.nth(4)).to_contain_text("☗同　馬")
    page.get_by_label("Western").check()
    expect(moves.nth(0)).to_contain_text("☗P-76")
    expect(moves.nth(2)).to_contain_text("☗B-33+")
    page.reload()
    page.wait_for_selector("body[data-viewer-ready]")
    expect(page.get_by_label("Western")).to_be_checked()
    expect(moves.nth(6)).to_contain_text("☗G*52")
    expect(ply).to_have_text("ply 5 / 7")  # the hash kept the position
    page.get_by_label("USI").check()
    expect(moves.nth(2)).to_have_text("3.8h3c+")

    # The page names the players and result and offers the records.
    expect(page.locator("h1")).to_contain_text("checkpoint@64")
    expect(page.locator("#game-summary")).to_contain_text("unfinished (max_plies)")
    kif = page.locator("#game-summary a", has_text="KIF")
    expect(kif).to_have_attribute("href", f"/runs/{run.pk}/games/{record.pk}.kif")


def test_the_run_page_links_each_game_to_the_viewer(page, daphne_server, stored_game):
    run, record = stored_game
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    page.locator("#game-records a", has_text="View").click()
    expect(page).to_have_url(f"{daphne_server}/runs/{run.pk}/games/{record.pk}/")
    page.wait_for_selector("body[data-viewer-ready]")


def test_another_users_game_is_not_found(page, daphne_server, stored_game, outsider):
    run, record = stored_game
    log_in(page, daphne_server, "oscar")
    response = page.goto(f"{daphne_server}/runs/{run.pk}/games/{record.pk}/")
    assert response.status == 404
    expect(page.locator("body")).not_to_contain_text("checkpoint@64")


def test_the_run_pages_live_board_draws_a_published_position(page, daphne_server, owner):
    from monitoring import live

    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, name="live", status=RunStatus.RUNNING
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    # After 7g7f 3c3d 8h3c+: gote is in check, sente's bishop promoted on 3三.
    live.publish_board(
        run.pk,
        {
            "sfen": "lnsgkgsnl/1r5b1/pppppp+Bpp/6p2/9/2P6/PP1PPPPPP/7R1/LNSGKGSNL w - 4",
            "last_move": "8h3c+",
            "moves": MOVES[:3],
            "ply": 3,
            "side_to_move": "white",
            "in_check": True,
            "game": 0,
        },
    )
    assert live.publisher().flush()
    board = page.locator("#live-board")
    expect(board.locator("piece.sente.horse")).to_have_count(1)
    expect(board.locator("piece")).to_have_count(40)
    expect(board.locator("sq.last-dest")).to_have_count(2)
    expect(board.locator("sq.check")).to_have_count(1)
    expect(board.locator(".board-caption")).to_contain_text("ply 3 · white to move · check")
    family = page.evaluate(
        "getComputedStyle(document.querySelector('#live-board piece.horse'), '::after').fontFamily"
    )
    assert family.startswith('"Noto Serif JP"'), family
    assert page.evaluate(
        """async () => {
          await document.fonts.load('32px "Noto Serif JP"', '馬');
          return [...document.fonts].some(
            (f) => f.family.replace(/"/g, '') === 'Noto Serif JP' && f.status === 'loaded');
        }"""
    )
    ranks = board.locator("coords.ranks coord")
    assert ranks.first.bounding_box()["y"] > ranks.last.bounding_box()["y"]  # 九 ... 一 reversed
    assert ranks.last.text_content() == "一"


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two computed ``rgb(...)``/``rgba(...)`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"[\d.]+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_viewer_is_readable_in_the_systems_theme(browser, daphne_server, stored_game, scheme):
    run, record = stored_game
    context = browser.new_context(viewport={"width": 1200, "height": 1000}, color_scheme=scheme)
    page = context.new_page()
    try:
        open_viewer(page, daphne_server, run, record)
        colours = page.evaluate(
            """() => {
              const style = (sel, pseudo) => getComputedStyle(document.querySelector(sel), pseudo);
              return {
                page: style('body').backgroundColor, text: style('body').color,
                card: style('#viewer-board').backgroundColor,
                move: style('#move-list button').color,
                wood: style('#viewer-board sg-board').backgroundColor,
                piece: style('#viewer-board piece.pawn', '::after').color,
                coord: style('#viewer-board coords.files coord').color,
              };
            }"""
        )
    finally:
        context.close()
    dark_page = contrast(colours["page"], "rgb(0, 0, 0)") < 2
    assert dark_page == (scheme == "dark"), colours
    assert contrast(colours["text"], colours["page"]) >= 7, colours
    assert contrast(colours["move"], colours["card"]) >= 7, colours
    assert contrast(colours["piece"], colours["wood"]) >= 4.5, colours
    assert contrast(colours["coord"], colours["card"]) >= 4.5, colours


def test_a_record_is_replayed_only_as_far_as_its_moves_are_legal(page, daphne_server, owner):
    run = Run.objects.create(owner=owner, trainer="shogi-ppo", config={}, name="odd")
    record = GameRecord.objects.create(
        run=run,
        source="selfplay",
        black="a",
        white="b",
        result="draw",
        plies=3,
        start_sfen="startpos",  # the engine's word for the initial position
        moves=["7g7f", "7g7f", "3c3d"],
    )
    open_viewer(page, daphne_server, run, record)
    expect(page.locator("#viewer-error")).to_have_text(
        "Move 2 (7g7f) is not legal in its position; the replay stops before it."
    )
    expect(page.locator("#move-list button")).to_have_count(1)
    page.keyboard.press("End")
    expect(page.locator("#viewer-ply")).to_have_text("ply 1 / 1")
    expect(page.locator("#viewer-board piece")).to_have_count(40)


def test_a_start_position_that_cannot_be_read_is_said(page, daphne_server, owner):
    run = Run.objects.create(owner=owner, trainer="shogi-ppo", config={}, name="odd")
    record = GameRecord.objects.create(
        run=run, source="sample", black="a", white="b", result="draw", plies=0, start_sfen="x"
    )
    open_viewer(page, daphne_server, run, record)
    expect(page.locator("#viewer-error")).to_have_text("The start position cannot be read: x")
    expect(page.locator("#move-list button")).to_have_count(0)
    expect(page.locator("[data-go=next]")).to_be_disabled()
