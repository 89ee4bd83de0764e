"""Rule 5, checked over the URL configuration itself: every route that names a run answers
another user with 404 (or 405 for a method it does not take, which it says of any run),
whatever the method, so a route added later cannot forget its access check unnoticed. Routes
that take run ids in the query (compare; the run form's ?from=&checkpoint=) and the WebSocket
have tests of their own (test_compare_page.py, test_dashboard_pages.py, test_history.py,
test_run_consumer.py)."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver

from runs.models import Checkpoint, Evaluation, GameRecord, Run, RunStatus

pytestmark = pytest.mark.django_db

NOT_SHOWN = {404, 405}


def run_routes() -> list[str]:
    """Every URL pattern (as a route string) with a ``run_id`` in it."""
    found: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and "<int:run_id>" in route:
                found.append(route)

    walk(get_resolver().url_patterns, "/")
    return found


@pytest.fixture
def olivias_run(owner):
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.COMPLETED
    )
    checkpoint = Checkpoint(run=run, step=8, kind="final", size=1, sha256="0" * 64)
    checkpoint.file.save("route-check.pt", ContentFile(b"x"))  # saves the row too
    record = GameRecord.objects.create(
        run=run, source="sample", black="a", white="b", result="draw", plies=0, start_sfen="x"
    )
    return run, {
        "run_id": run.pk,
        "checkpoint_id": checkpoint.pk,
        "record_id": record.pk,
        "evaluation_id": Evaluation.objects.create(
            run=run, checkpoint=checkpoint, opponent="random"
        ).pk,
        "fmt": "kif",
    }


def fill(route: str, values: dict) -> str:
    for name, value in values.items():
        for converter in ("int", "str"):
            route = route.replace(f"<{converter}:{name}>", str(value))
    assert "<" not in route, f"a route parameter this test does not know: {route}"
    return route


def test_the_routes_are_found():
    routes = run_routes()
    for expected in (
        "/runs/<int:run_id>/",
        "/runs/<int:run_id>/games/<int:record_id>/",
        "/api/v1/runs/<int:run_id>/metrics/",
        "/api/v1/runs/<int:run_id>/events/",
        "/api/v1/runs/<int:run_id>/requeue/",
        "/runs/<int:run_id>/showcase/<int:evaluation_id>/state/",
    ):
        assert expected in routes
    assert len(routes) >= 15, routes


def test_another_user_gets_nothing_from_any_route_that_names_a_run(
    client, api_client, owner, outsider, olivias_run
):
    run, values = olivias_run
    client.force_login(outsider)
    api = api_client(outsider)
    for route in run_routes():
        url = fill(route, values)
        caller = api if url.startswith("/api/") else client
        for method in ("get", "post", "patch", "delete"):
            status = getattr(caller, method)(url).status_code
            assert status in NOT_SHOWN, f"{method.upper()} {url} answered {status} to another user"
    run.refresh_from_db()  # nothing was touched: not requeued, renamed, tagged or deleted
    assert (run.status, run.name, run.tags, run.notes) == (RunStatus.COMPLETED, "", [], "")
    assert Checkpoint.objects.filter(run=run).count() == 1


def test_the_owner_is_answered_by_the_same_routes(client, api_client, owner, olivias_run):
    """The other side of the check above: the same URLs are not simply broken."""
    _, values = olivias_run
    client.force_login(owner)
    api = api_client(owner)
    answered = 0
    for route in run_routes():
        url = fill(route, values)
        caller = api if url.startswith("/api/") else client
        if caller.get(url).status_code not in NOT_SHOWN:
            answered += 1
    assert answered >= 10
