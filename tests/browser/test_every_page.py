"""Every page in a real Chromium, with a shogi-ppo run training live on a real worker: an
axe-core audit finds no serious or critical violation at 1280 px (light and dark themes) and
at 390 px, no page
scrolls sideways on a phone, the main actions are reached by Tab with a visible focus, and
the run page loads at most 10 scripts and style sheets."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from runs.models import Run, RunStatus
from tests.browser.test_run_page import log_in
from tests.support.browser_waits import wait_for_js
from tests.support.servers import BASE_DIR
from tests.support.showroom import LIVE_SHOGI, showroom, stop_run

pytestmark = pytest.mark.django_db(transaction=True)

AXE = BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")
REQUEST_BUDGET = 10  # scripts and style sheets of the run page (issue 13)


def settle(page) -> None:
    """The page's scripts have drawn what they draw on load (charts, board, tables)."""
    page.wait_for_load_state("load")
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(0)  # one turn of the event loop for module scripts' first paint


def audit(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is, one line each."""
    # Evaluated through the DevTools protocol, which the page's CSP does not govern; an
    # injected <script> tag would be refused as inline script.
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
             .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ")) }))"""
    )
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {v['nodes']}"
        for v in found
        if v["impact"] in SERIOUS
    ]


@pytest.fixture
def portal(owner, celery_worker, tmp_path):
    room = showroom(owner, tmp_path)
    yield room
    stop_run(room.live, owner)


@pytest.mark.parametrize("width", [1280, 390])
def test_no_page_has_a_serious_accessibility_violation_or_scrolls_sideways(
    browser, daphne_server, portal, width
):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: dict[str, list[str]] = {}
    try:
        page.goto(daphne_server + "/accounts/login/")
        problems["login"] = audit(page)
        log_in(page, daphne_server, "olivia")
        # the dark theme (the system's choice) too, at the desktop width
        for scheme in ("light", "dark") if width == 1280 else ("light",):
            page.emulate_media(color_scheme=scheme)
            for name, path in portal.pages().items():
                page.goto(daphne_server + path)
                settle(page)
                if name == "run":  # the live board has its first position
                    expect(page.locator("#live-board sg-pieces piece").first).to_be_attached()
                # folded parts are audited open (the new-run form's advanced fields, run edits)
                page.locator("details").evaluate_all("ds => ds.forEach(d => d.open = true)")
                found = audit(page)
                wide = page.evaluate("document.documentElement.scrollWidth")
                if wide > width:
                    found.append(f"{wide} px wide in a {width} px window")
                problems[f"{name} ({scheme})"] = found
    finally:
        context.close()
    problems = {name: found for name, found in problems.items() if found}
    assert not problems, "\n".join(f"{n}:\n  " + "\n  ".join(f) for n, f in problems.items())


def focus_ring(page) -> dict:
    """What has the keyboard focus, and whether it is drawn with a visible ring."""
    return page.evaluate(
        """() => {
          const el = document.activeElement;
          const s = getComputedStyle(el);
          const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
          return { name: (el.textContent || el.value || el.getAttribute("aria-label") || "")
                           .trim().slice(0, 40),
                   tag: el.tagName.toLowerCase(), id: el.id, type: el.type || "",
                   ring: outline || s.boxShadow !== "none" };
        }"""
    )


def tab_until(page, wanted: set[str], limit: int = 80) -> list[dict]:
    """Press Tab until every name in ``wanted`` has had the focus (or ``limit`` presses)."""
    seen: list[dict] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.append(focus_ring(page))
        if wanted <= {f["name"] for f in seen}:
            break
    return seen


def test_the_main_actions_are_reached_by_tab_with_a_visible_focus(page, daphne_server, owner):
    run = Run.objects.create(
        owner=owner,
        trainer="shogi-ppo",
        config=LIVE_SHOGI,
        name="keyboard",
        status=RunStatus.RUNNING,
    )
    log_in(page, daphne_server, "olivia")
    seen = tab_until(page, {"Runs", "New run", "League", "System", "Log out", "keyboard"})
    names = {f["name"] for f in seen}
    assert {"Runs", "New run", "League", "System", "Log out", "keyboard"} <= names, names

    page.goto(f"{daphne_server}/runs/{run.pk}/")
    settle(page)
    seen += tab_until(page, {"Stop", "Pause", "Save checkpoint", "Reset zoom"})
    names = {f["name"] for f in seen}
    assert {"Stop", "Pause", "Save checkpoint", "Reset zoom"} <= names, names
    unringed = [f for f in seen if not f["ring"] and f["tag"] != "body"]
    assert not unringed, f"focused with no visible ring: {unringed}"
    # Enter on a focused command asks first (Stop ends the run)
    page.locator("#run-commands button[value=stop]").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#confirm-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#confirm-dialog")).to_be_hidden()


def test_the_run_page_loads_at_most_10_scripts_and_styles(page, daphne_server, owner):
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config=LIVE_SHOGI, status=RunStatus.RUNNING
    )
    log_in(page, daphne_server, "olivia")
    loaded: list[str] = []
    page.on(
        "request",
        lambda r: loaded.append(r.url) if r.resource_type in ("script", "stylesheet") else None,
    )
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    page.wait_for_load_state("networkidle")
    wait_for_js(page, "window.keiseiCharts !== undefined")  # the page's script ran
    assert len(loaded) <= REQUEST_BUDGET, "\n".join(loaded)
