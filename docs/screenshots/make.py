"""`make screenshots`: a PNG of every page, with a shogi-ppo run training live, into this folder.

Starts throwaway embedded servers (bench/_stack.py), a real Celery worker and Daphne; makes
a user and the showroom of tests/support/showroom.py (a live run, a finished one with games,
league matches, a showcase game); then Debian's Chromium (Playwright) takes each page at
1280x800 (the viewport, not the whole page), and the run page also at 390x844 (a phone) and
in the dark theme. The live run is stopped and everything shut down at the end.

    .venv/bin/python docs/screenshots/make.py            # a few minutes (or `make screenshots`)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _stack import django_stack  # noqa: E402

CHROMIUM = os.environ.get("KEISEI_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "screenshots-only-password"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def shoot(browser, base: str, pages: dict[str, str], viewport, scheme: str, suffix: str) -> None:
    from tests.browser.test_every_page import settle

    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(60_000)
    # the page's own errors, to tell why a page did not draw
    page.on("pageerror", lambda error: print(f"page error: {error}", file=sys.stderr))
    try:
        page.goto(base + "/accounts/login/")
        if suffix == "":
            page.screenshot(path=HERE / "login.png")
        page.fill("#id_username", "olivia")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/runs/")
        for name, path in pages.items():
            page.goto(base + path)
            settle(page)
            if name == "run":
                page.locator("#live-board sg-pieces piece").first.wait_for(state="attached")
                page.wait_for_timeout(1500)  # a few live positions and points, as a person sees
            page.screenshot(path=HERE / f"{name}{suffix}.png")
            print(f"wrote {name}{suffix}.png", file=sys.stderr)
    finally:
        context.close()


def main() -> None:
    with django_stack() as env, tempfile.TemporaryDirectory() as work:
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from playwright.sync_api import sync_playwright

        from tests.browser.conftest import CHROMIUM_ARGS
        from tests.support.servers import start_celery_worker, start_daphne
        from tests.support.showroom import showroom, stop_run

        call_command("collectstatic", "--noinput", "-v", "0")
        owner = get_user_model().objects.create_user("olivia", password=PASSWORD)
        worker = start_celery_worker(env)
        daphne, base = start_daphne(env)
        try:
            room = showroom(owner, Path(work))
            pages = room.pages()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                shoot(browser, base, pages, DESKTOP, "light", "")
                run_only = {"run": pages["run"]}
                shoot(browser, base, run_only, PHONE, "light", "-phone")
                shoot(browser, base, run_only, DESKTOP, "dark", "-dark")
                browser.close()
            stop_run(room.live, owner)
        finally:
            daphne.stop()
            worker.stop()


if __name__ == "__main__":
    main()
