"""The Sharing card and the viewer's line, in a real Chromium over a real Daphne: the owner
shares from the run page, a wrong name is named, the viewer sees the run read-only and the
runs list marks it; no CSP violation (the conftest fails on one) and no axe violation."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from runs.models import VIEWERS_GROUP, Run, RunShare
from tests.browser.test_every_page import audit
from tests.browser.test_run_page import log_in
from tests.conftest import _user

pytestmark = pytest.mark.django_db(transaction=True)


def test_owner_shares_from_the_run_page_and_the_viewer_watches_read_only(
    page, daphne_server, owner
):
    vera = _user("vera")
    vera.groups.add(Group.objects.get_or_create(name=VIEWERS_GROUP)[0])
    run = Run.objects.create(
        owner=owner, trainer="digits", config={"epochs": 2}, name="shared-run", status="failed"
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    card = page.locator("#run-sharing")
    expect(card.locator("summary")).to_have_text("Sharing: private")
    card.locator("summary").click()
    assert audit(page) == []
    page.get_by_label("Users").fill("vera, ghost")
    page.get_by_role("button", name="Save sharing").click()
    expect(page.get_by_text("users: no user named 'ghost'")).to_be_visible()
    assert not RunShare.objects.filter(run=run).exists()

    # Back on the run page, the card closed again (nothing is shared yet).
    page.locator("#run-sharing summary").click()
    page.get_by_label("Users").fill("vera")
    page.get_by_role("button", name="Save sharing").click()
    expect(page.get_by_text("Sharing saved.")).to_be_visible()
    expect(page.locator("#run-sharing summary")).to_have_text("Sharing: shared read-only")
    assert RunShare.objects.filter(run=run, user=vera).exists()

    page.context.clear_cookies()
    log_in(page, daphne_server, "vera")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    expect(page.locator("#shared-by")).to_have_text(
        "Shared with you by olivia: you may watch and download, not steer."
    )
    expect(page.locator("#run-sharing")).to_have_count(0)
    expect(page.locator("#run-commands")).to_have_count(0)
    assert audit(page) == []
    page.goto(f"{daphne_server}/runs/?shared=with_me")
    row = page.locator(f"tr[data-run='{run.pk}']")
    expect(row.locator(".shared-marker")).to_have_text("shared by olivia")
    expect(page.locator("#f-shared")).to_have_value("with_me")
