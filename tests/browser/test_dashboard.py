"""The runs list as a dashboard, the run form and the account page in a real Chromium:
filters, search, sort and paging swap the table in; ticks lead to the compare page; the
form's error summary, folded sections, preset marks, clone and fork; tokens shown once; and
no page scrolls sideways on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import ApiToken
from runs.models import Checkpoint, Run, RunStatus
from tests.browser.test_run_page import log_in
from tests.support.browser_waits import wait_for_js

pytestmark = pytest.mark.django_db(transaction=True)


def make_runs(owner, count: int) -> list[Run]:
    return [
        Run.objects.create(
            owner=owner,
            trainer="digits",
            config={},
            name=f"sweep-{i:02d}",
            step=i,
            tags=["odd"] if i % 2 else ["even"],
            status=RunStatus.COMPLETED if i % 3 else RunStatus.FAILED,
        )
        for i in range(count)
    ]


def names(page) -> list[str]:
    return page.locator("#runs-table td.run-name").all_inner_texts()


def test_search_filter_sort_and_page_swap_the_table_in(page, daphne_server, owner):
    make_runs(owner, 30)
    log_in(page, daphne_server, "olivia")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    expect(page.locator(".pager")).to_contain_text("page 1 of 2 · 30 runs")

    page.fill("#f-search", "sweep-1")  # typed: the table follows without a submit
    expect(page.locator(".pager")).to_contain_text("10 runs")
    expect(page).to_have_url(re.compile(r"/runs/\?.*search=sweep-1"))

    page.select_option("#f-status", "failed")  # sweep-12, 15, 18
    expect(page.locator(".pager")).to_contain_text("3 runs")
    page.click("th >> text=Step")  # ascending
    expect(page.locator("th[aria-sort=ascending]")).to_have_text("Step")
    assert names(page) == ["sweep-12", "sweep-15", "sweep-18"]
    page.focus("#sort-step")  # and back down, by keyboard: the focus stays on the heading
    page.keyboard.press("Enter")
    expect(page.locator("th[aria-sort=descending]")).to_have_text("Step")
    expect(page.locator("#sort-step")).to_be_focused()
    assert names(page) == ["sweep-18", "sweep-15", "sweep-12"]
    page.keyboard.press("Enter")  # up again
    expect(page.locator("th[aria-sort=ascending]")).to_have_text("Step")
    page.select_option("#f-status", "")  # a filter changed keeps the sort
    expect(page.locator(".pager")).to_contain_text("10 runs")
    expect(page.locator("th[aria-sort=ascending]")).to_have_text("Step")
    expect(page.locator("#runs-table td.run-name").first).to_have_text("sweep-10")

    page.click("text=Clear")  # a plain link: the page comes again, unfiltered
    page.fill("#f-tag", "odd")
    page.press("#f-tag", "Enter")
    expect(page.locator(".pager")).to_contain_text("15 runs")
    page.fill("#f-tag", "")
    page.press("#f-tag", "Enter")
    expect(page.locator(".pager")).to_contain_text("page 1 of 2")
    page.click("text=Next page")
    expect(page.locator(".pager")).to_contain_text("page 2 of 2")
    expect(page.locator("#runs-table tbody tr")).to_have_count(5)
    expect(page).to_have_url(re.compile(r"page=2"))
    page.reload()  # the address bar holds the page: the same page comes back
    expect(page.locator(".pager")).to_contain_text("page 2 of 2")


def test_a_bad_date_is_named_and_nothing_listed(page, daphne_server, owner):
    make_runs(owner, 2)
    log_in(page, daphne_server, "olivia")
    page.goto(daphne_server + "/runs/?created_after=yesterday")
    expect(page.locator("#f-created-after-error")).to_contain_text("Created from:")
    expect(page.locator("#runs-table tbody tr")).to_have_count(0)


def test_ticked_runs_open_the_compare_page(page, daphne_server, owner):
    runs = make_runs(owner, 3)
    log_in(page, daphne_server, "olivia")
    page.check(f'input[name=runs][value="{runs[0].pk}"]')
    page.check(f'input[name=runs][value="{runs[2].pk}"]')
    page.click("#compare-selected")
    expect(page).to_have_url(re.compile(rf"/runs/compare/\?runs={runs[2].pk}&runs={runs[0].pk}"))
    expect(page.locator("h1")).to_have_text("Compare runs")


def test_the_summary_links_to_a_folded_field_and_focuses_it(page, daphne_server, owner):
    log_in(page, daphne_server, "olivia")
    page.goto(daphne_server + "/runs/new/?trainer=digits")
    dropout = page.locator("#id_dropout")
    expect(dropout).to_be_hidden()  # advanced: folded
    page.locator("details.advanced summary").first.click()
    dropout.fill("1")  # must be below 1
    page.fill("#id_learning_rate", "")
    page.click("#queue-run")
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("2 fields to fix")
    link = summary.locator('a[href="#id_dropout"]')
    expect(link).to_have_text("Dropout: Input should be less than 1")
    expect(summary.locator('a[href="#id_learning_rate"]')).to_contain_text("Learning rate: Input")
    link.click()
    expect(dropout).to_be_focused()
    expect(dropout).to_be_visible()
    assert Run.objects.count() == 0


def test_a_value_differing_from_the_preset_is_marked(page, daphne_server, owner):
    log_in(page, daphne_server, "olivia")
    page.goto(daphne_server + "/runs/new/?trainer=shogi-ppo&preset=quick")
    field = page.locator("#field-learning_rate")
    expect(page.locator("#id_learning_rate")).to_have_value("0.001")
    expect(field).not_to_have_class(re.compile("differs"))
    page.fill("#id_learning_rate", "0.002")
    expect(field).to_have_class(re.compile("differs"))
    expect(field.locator(".differs-note")).to_have_text("changed; preset: 0.001")
    page.fill("#id_learning_rate", "1e-3")  # the same number, written otherwise
    expect(field).not_to_have_class(re.compile("differs"))


def test_a_clone_prefill_has_the_source_config(page, daphne_server, owner):
    source = Run.objects.create(
        owner=owner, trainer="digits", name="origin", config={"epochs": 7, "dropout": 0.3}
    )
    log_in(page, daphne_server, "olivia")
    page.goto(daphne_server + f"/runs/new/?from={source.pk}")
    expect(page.locator("#id_name")).to_have_value("copy of origin")
    expect(page.locator("#id_epochs")).to_have_value("7")
    expect(page.locator("#id_dropout")).to_have_value("0.3")
    expect(page.locator("#field-dropout")).to_have_class(re.compile("differs"))
    expect(page.locator("details.advanced").first).to_have_attribute("open", "")


def test_a_fork_prefill_queues_a_run_from_the_checkpoint(page, daphne_server, owner):
    source = Run.objects.create(
        owner=owner, trainer="digits", name="origin", config={"epochs": 2}, status="completed"
    )
    checkpoint = Checkpoint.objects.create(run=source, step=8, kind="final", size=1, sha256="0")
    log_in(page, daphne_server, "olivia")
    page.goto(daphne_server + f"/runs/new/?from={source.pk}&checkpoint={checkpoint.pk}")
    expect(page.locator(".source-note")).to_contain_text("checkpoint at step 8")
    expect(page.locator("#id_name")).to_have_value("fork of origin at step 8")
    page.fill("#id_epochs", "3")
    page.click("#queue-run")
    expect(page.locator(".flash.success")).to_contain_text("fork of origin at step 8 is queued")
    fork = Run.objects.exclude(pk=source.pk).get()
    assert fork.start_checkpoint_id == checkpoint.pk and fork.config["epochs"] == 3
    assert Run.objects.count() == 2


def test_the_same_form_sent_twice_queues_one_run(page, daphne_server, owner):
    log_in(page, daphne_server, "olivia")
    page.goto(daphne_server + "/runs/new/?trainer=digits")
    page.fill("#id_name", "once")
    # Two sends of one rendered form (a double click without JavaScript, a resend): the
    # second lands on the run the first queued.
    landed = page.evaluate(
        """async () => {
            const form = document.getElementById("run-form");
            const send = () => fetch(location.href, { method: "POST", body: new FormData(form) });
            const first = await send();
            const second = await send();
            return [first.url, second.url, await second.text()];
        }"""
    )
    assert landed[0] == landed[1] and re.search(r"/runs/\d+/$", landed[0])
    assert "already sent" in landed[2]
    assert Run.objects.filter(name="once").count() == 1


def test_another_users_run_in_from_is_a_404(page, daphne_server, owner, outsider):
    source = Run.objects.create(owner=owner, trainer="digits", name="olivias", config={})
    log_in(page, daphne_server, "oscar")
    answer = page.goto(daphne_server + f"/runs/new/?from={source.pk}")
    assert answer.status == 404


def test_a_token_is_shown_once_authenticates_and_is_refused_once_revoked(
    page, daphne_server, owner
):
    log_in(page, daphne_server, "olivia")
    page.click("header >> text=olivia")
    expect(page.locator("h1")).to_have_text("Account")
    expect(page.locator("#usage-queued")).to_contain_text("0 of")
    page.fill("#id_name", "laptop")
    page.select_option("#id_expires", "30")
    page.click("text=Create token")
    key = page.locator("#new-token-key").input_value()
    assert len(key) > 20
    page.focus("#new-token-key")  # selected whole, ready to copy
    selected = "() => { const e = document.activeElement; "
    selected += "return e.value.slice(e.selectionStart, e.selectionEnd); }"
    assert page.evaluate(selected) == key
    expect(page.locator("tr[data-token]")).to_contain_text("laptop")
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    assert key not in page.content()

    api = page.context.request
    me = api.get(daphne_server + "/api/v1/me/", headers={"Authorization": f"Token {key}"})
    assert me.status == 200 and me.json()["username"] == "olivia"

    page.get_by_role("link", name="Revoke laptop").click()
    expect(page.locator("h1")).to_have_text("Revoke token laptop?")
    assert ApiToken.objects.get().revoked_at is None  # asking is not revoking
    page.click("#confirm-revoke")
    expect(page.locator(".flash")).to_contain_text("is revoked")
    expect(page.locator("tr[data-token]")).to_have_count(0)
    refused = api.get(daphne_server + "/api/v1/me/", headers={"Authorization": f"Token {key}"})
    assert refused.status == 401 and refused.json()["error"]["code"] == "token_revoked"


@pytest.mark.parametrize("path", ["/runs/", "/runs/new/?trainer=shogi-ppo", "/account/"])
def test_no_sideways_scroll_on_a_phone(browser, daphne_server, owner, path):
    make_runs(owner, 3)
    ApiToken.objects.create(user=owner, expiry=None, name="a rather long token name for a phone")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in(page, daphne_server, "olivia")
        page.goto(daphne_server + path)
        page.locator("details.advanced").evaluate_all("ds => ds.forEach(d => d.open = true)")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide"
    finally:
        context.close()


def test_step_and_progress_follow_the_live_messages(page, daphne_server, owner):
    from monitoring import live

    run = Run.objects.create(
        owner=owner, trainer="digits", config={}, name="live one", status=RunStatus.RUNNING
    )
    log_in(page, daphne_server, "olivia")
    wait_for_js(page, "document.getElementById('live-state').textContent === ''")
    row = page.locator(f'#runs-table tr[data-run="{run.pk}"]')
    expect(row.locator("td.step")).to_have_text("0")
    live.publish_progress(run.pk, {"step": 3, "total": 6, "progress": 0.5}, owner_id=owner.pk)
    expect(row.locator("td.step")).to_have_text("3 / 6")
    expect(row.locator("progress")).to_have_js_property("value", 0.5)
