"""The audit log is for staff: its page filters and pages, its CSV export neutralises
formulas, the admin shows it read-only, and nobody else learns it exists."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from audit import services
from audit.models import Action, AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ROUTES = ["/audit/", "/audit/export.csv"]


@pytest.fixture
def superuser(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("sam", password=PASSWORD)


def _rows(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.mark.parametrize("route", ROUTES)
def test_nobody_signed_in_is_sent_to_sign_in(client, route):
    response = client.get(route)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("route", ROUTES)
def test_someone_who_is_not_staff_is_told_there_is_no_such_page(client, owner, route):
    client.force_login(owner)
    assert client.get(route).status_code == 404
    assert b'href="/audit/"' not in client.get("/account/").content  # no link to it either
    assert client.get(route, {"action": "auth.login"}).status_code == 404


def test_staff_filter_by_user_action_target_and_day(client, staff, owner, outsider):
    services.record(action=Action.RUN_EDIT, user=owner, target_type="run", target_id=7)
    services.record(action=Action.RUN_EDIT, user=outsider, target_type="run", target_id=8)
    services.record(action=Action.RUN_DELETE, user=owner, target_type="run", target_id=7)
    client.force_login(staff)

    def listed(**query) -> list[str]:
        response = client.get("/audit/", query)
        assert response.status_code == 200
        return [str(e) for e in response.context["page"].object_list]

    assert len(listed()) == 4  # with staff's own sign-in
    assert all("olivia" in e for e in listed(user="OLIVIA")) and len(listed(user="olivia")) == 2
    assert len(listed(action="run.edit")) == 2
    assert [e.endswith("run:8") for e in listed(target="run:8")] == [True]
    assert len(listed(target="run")) == 3
    today = timezone.now().date()
    assert len(listed(since=today.isoformat(), until=today.isoformat())) == 4
    assert listed(until=(today - dt.timedelta(days=1)).isoformat()) == []
    page = client.get("/audit/", {"user": "oscar"})
    assert b"oscar" in page.content and b"run.edit" in page.content
    assert b'href="/audit/"' in client.get("/account/").content  # the header's link, for staff


def test_bad_filters_are_refused_naming_the_field(client, staff):
    client.force_login(staff)
    page = client.get("/audit/", {"action": "run.explode", "since": "tomorrow"})
    assert page.status_code == 400
    assert b"Action:" in page.content and b"Since:" in page.content
    export = client.get("/audit/export.csv", {"target": "run 12"})
    assert export.status_code == 400 and b"target:" in export.content


def test_pages_of_fifty_newest_first(client, staff, owner):
    for n in range(55):
        services.record(action=Action.RUN_EDIT, user=owner, target_type="run", target_id=n)
    client.force_login(staff)
    first = client.get("/audit/", {"action": "run.edit"})
    assert [e.target_id for e in first.context["page"].object_list][:2] == ["54", "53"]
    assert len(first.context["page"].object_list) == 50
    assert b"action=run.edit&amp;page=2" in first.content
    second = client.get("/audit/", {"action": "run.edit", "page": 2})
    assert [e.target_id for e in second.context["page"].object_list] == [
        str(n) for n in range(4, -1, -1)
    ]


def test_the_export_is_the_filtered_log_with_formulas_disarmed(client, staff, owner):
    # What a person typed as a username when signing in is recorded as typed...
    for typed in ('=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)"):
        client.post("/accounts/login/", {"username": typed, "password": "x"})
    services.record(action=Action.RUN_EDIT, user=owner, target_type="run", target_id=3)
    client.force_login(staff)
    response = client.get("/audit/export.csv", {"action": "auth.login_failed"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _rows(response)
    # ...and exported so that a spreadsheet shows it as text instead of running it.
    assert sorted(r["username"] for r in rows) == sorted(
        ['\'=HYPERLINK("http://evil")', "'+1+1", "'-2", "'@SUM(A1)"]
    )
    assert {r["action"] for r in rows} == {"auth.login_failed"}
    assert all(r["ip"] == "127.0.0.1" for r in rows)
    everything = _rows(client.get("/audit/export.csv"))
    # The four refusals, the edit, and staff's own sign-in.
    assert len(everything) == AuditEntry.objects.count() == 6


def test_the_admin_shows_the_log_and_changes_nothing(client, superuser, owner):
    entry = services.record(action=Action.RUN_EDIT, user=owner, target_type="run", target_id=3)
    client.force_login(superuser)
    listing = client.get("/admin/audit/auditentry/")
    assert listing.status_code == 200 and b"run.edit" in listing.content
    detail = client.get(f"/admin/audit/auditentry/{entry.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert client.get("/admin/audit/auditentry/add/").status_code == 403
    assert (
        client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    client.post(
        "/admin/audit/auditentry/",
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
