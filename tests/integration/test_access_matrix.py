"""The access matrix (issue 15, point 2): every route of the URL configuration, every method,
every WebSocket path and socket action, asked over the real wire (Daphne, HTTP, WebSockets) by
every kind of caller, against an explicit table of what each must get.

The table below is the specification: a route in the URLconf or a socket path in
monitoring/routing.py without a row fails (``new route X: add it to the access matrix``), and
so does a row whose route is gone. The admin's own pages are one family, asked by prefix.
Downloads are rows like any other (checkpoint, KIF and CSA records, metric and audit CSV).
How to add a route: docs/security.md, "The access matrix".
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from django.core.management import call_command

from tests.support import access_matrix as m
from tests.support.access_matrix import ERROR_MESSAGE, LOGIN, OK, Outcome
from tests.support.access_rows import (
    ADMIN_INDEX,
    ADMIN_MODEL,
    API_405,
    API_DEAD,
    API_OWNERS_OWN,
    API_RUN_READ,
    PAGE_405,
    PAGE_DEAD,
    PAGE_OWNERS_OWN,
    PAGE_RUN_READ,
    PAGE_RUN_STEER_FORM,
    PAGE_STAFF_ONLY,
    RUN_FORM,
    RUN_FORM_POST,
    api_get,
    api_run_read,
    api_run_steer,
    api_signed_in,
    app_rows,
    every_method,
    everyone,
    merged,
    methods,
    only,
    page_signed_in,
    who,
)

# ----- who gets what: the table -----------------------------------------------------------

ROUTES: dict[str, dict[str, dict[str, Outcome]]] = {
    # Open to anyone, whatever the method: probes and the redirect to the runs list.
    "home": every_method(everyone(OK)),
    "healthz": every_method(everyone(OK)),
    "readyz": every_method(everyone(OK)),
    # Prometheus: staff (or a scraper's bearer token, not asked here), 401 to the rest.
    "metrics": every_method({**everyone(401), m.STAFF: OK}),
    # Django's LoginView: the form to anyone; a signed-in person is sent on, whatever the method.
    "login": methods(
        GET=everyone(OK),
        POST=everyone(OK),  # an empty form: the login page again, with its errors
        PUT=everyone(OK),
        PATCH={**page_signed_in(OK), m.ANONYMOUS: 405, m.EXPIRED: 405, m.REVOKED: 405},
        DELETE={**page_signed_in(OK), m.ANONYMOUS: 405, m.EXPIRED: 405, m.REVOKED: 405},
    ),
    "logout": only("POST", everyone(LOGIN), everyone(405)),
    # The schema and its docs describe the API, not its data: open.
    "api-schema": only("GET", everyone(OK), everyone(405)),
    "api-docs": only("GET", everyone(OK), everyone(405)),
    # Pages of any signed-in person.
    "runs:list": every_method(page_signed_in()),
    "runs:table": every_method(page_signed_in()),
    "runs:league": every_method(page_signed_in()),
    "system": every_method(page_signed_in()),
    "account": every_method(page_signed_in()),
    "runs:showcase-new": methods(
        GET=page_signed_in(),
        POST=page_signed_in(400),  # no players chosen: the form again, each field named
        PUT=page_signed_in(),
        PATCH=page_signed_in(),
        DELETE=page_signed_in(),
    ),
    # The run form, as a clone of the owner's run (?from=): who may see it may start from it;
    # a viewer may not queue, so is refused the form itself (403, saying nothing of the run).
    "runs:new": methods(
        GET=RUN_FORM,
        POST=RUN_FORM_POST,
        PUT=RUN_FORM,
        PATCH=RUN_FORM,
        DELETE=RUN_FORM,
    ),
    # The compare page with the owner's run in ?runs=.
    "runs:compare": every_method(PAGE_RUN_READ),
    "account-token-create": only("POST", page_signed_in(400), PAGE_405),
    "account-token-revoke": every_method(PAGE_OWNERS_OWN),
    # A run's pages and page downloads.
    "runs:detail": every_method(PAGE_RUN_READ),
    "runs:artifacts": every_method(PAGE_RUN_READ),
    "runs:timeline": every_method(PAGE_RUN_READ),
    "runs:game": every_method(PAGE_RUN_READ),
    "runs:game-record": every_method(PAGE_RUN_READ),  # KIF
    "runs:game-record csa": every_method(PAGE_RUN_READ),
    "runs:checkpoint-download": every_method(PAGE_RUN_READ),
    "runs:showcase": every_method(PAGE_RUN_READ),
    "runs:showcase-state": every_method(PAGE_RUN_READ),
    # A run's steering from the page.
    "runs:edit": only("POST", PAGE_RUN_STEER_FORM, PAGE_405),
    "runs:sharing": only("POST", PAGE_RUN_STEER_FORM, PAGE_405),
    "runs:command": only(
        "POST",
        # No command named: the owner and staff get the run page with the error; a read-only
        # sharer is refused outright.
        who(
            **PAGE_DEAD,
            other=404,
            owner=ERROR_MESSAGE,
            staff=ERROR_MESSAGE,
            viewer=403,
            unshared=404,
            public=403,
        ),
        PAGE_405,
    ),
    # Staff's audit log and its CSV.
    "audit:entries": every_method(PAGE_STAFF_ONLY),
    "audit:export": every_method(PAGE_STAFF_ONLY),
    # The API of any signed-in person.
    "api-runs": methods(
        GET=api_signed_in(),
        # A valid run: trainers queue it, a viewer may not queue (viewer_cannot_queue).
        POST={**api_signed_in(OK), m.VIEWER: 403, m.UNSHARED: 403},
        PUT=API_405,
        PATCH=API_405,
        DELETE=API_405,
    ),
    "api-presets": methods(
        GET=api_signed_in(),
        POST=api_signed_in(400),  # no name or config
        PUT=API_405,
        PATCH=API_405,
        DELETE=API_405,
    ),
    "api-preset": only("DELETE", API_OWNERS_OWN, API_405),
    "api-league": api_get(api_signed_in()),
    "api-trainers": api_get(api_signed_in()),
    "api-trainer": api_get(api_signed_in()),
    "api-trainer-validate": only("POST", api_signed_in(), API_405),
    "api-me": api_get(api_signed_in()),
    "api-system": api_get(api_signed_in()),
    "api-tokens": methods(
        GET=api_signed_in(),
        POST=api_signed_in(400),  # no name
        PUT=API_405,
        PATCH=API_405,
        DELETE=API_405,
    ),
    "api-token": only("DELETE", API_OWNERS_OWN, API_405),
    "api-token-current": only("DELETE", api_signed_in(), API_405),  # one's own, always
    # The owner's run over compare (?runs=).
    "metrics-compare": api_get(API_RUN_READ),
    # A run, read, over the API (the downloads among them).
    "api-run": methods(
        GET=API_RUN_READ,
        POST=API_405,
        PUT=API_405,
        PATCH=api_run_steer(),
        DELETE=api_run_steer(),
    ),
    "api-checkpoints": api_get(API_RUN_READ),
    "api-checkpoint-download": api_get(API_RUN_READ),
    "api-evaluations": api_get(API_RUN_READ),
    "api-game-records": api_get(API_RUN_READ),
    "api-game-record": api_get(API_RUN_READ),
    "api-analysis": api_get(api_run_read(400)),  # no position asked about
    "api-game-analysis": api_get(api_run_read(400)),
    "metrics-history": api_get(API_RUN_READ),
    "metrics-keys": api_get(API_RUN_READ),
    "metrics-csv": api_get(API_RUN_READ),
    "run-events": api_get(API_RUN_READ),
    # A run, steered, over the API.
    "api-run-commands": methods(
        GET=API_RUN_READ,
        POST=api_run_steer(400),  # no command named
        PUT=API_405,
        PATCH=API_405,
        DELETE=API_405,
    ),
    "api-run-requeue": only("POST", api_run_steer(409), API_405),  # completed: not requeued
    "api-checkpoint-evaluate": only("POST", api_run_steer(400), API_405),  # no opponent
    "api-run-sharing": methods(
        GET=API_RUN_READ,
        POST=API_405,
        PUT=api_run_steer(400),  # no "public"
        PATCH=API_405,
        DELETE=API_405,
    ),
    # Clone and fork make the caller's own run from one they may see; a viewer queues nothing.
    "api-run-clone": only(
        "POST",
        who(**API_DEAD, other=404, owner=OK, staff=OK, viewer=403, unshared=404, public=OK),
        API_405,
    ),
    "api-run-fork": only(
        "POST",
        who(**API_DEAD, other=404, owner=OK, staff=OK, viewer=403, unshared=404, public=OK),
        API_405,
    ),
}
# Rows asked at a route under other parameters: route name and what changes.
VARIANTS = {"runs:game-record csa": ("runs:game-record", {"fmt": "csa"})}
# Query strings (run ids in the query are access checks too).
QUERIES = {
    "runs:timeline": "?before_seq=2",
    "runs:compare": "?runs={run_id}",
    "runs:new": "?from={run_id}",
    "metrics-compare": "?runs={run_id}&key=charts/win_rate",
}
# Bodies where an empty one would stop at validation before the check that matters, or
# would change nothing a wrongly let-through request could be caught by.
BODIES = {
    ("runs:edit", "POST"): {"name": "renamed by the access matrix"},
    ("api-runs", "POST"): {"trainer": "digits", "config": {"epochs": 1}},
    ("api-run-fork", "POST"): {"checkpoint": "{checkpoint_id}"},
}
# The admin's family, asked by prefix: its index, every registered model's list (found in the
# admin's registry, so a model registered later is asked too) and a run's change and delete
# pages, with one expectation for the whole family.
ADMIN_INDEX_PAGE = "/admin/"
ADMIN_RUN_PAGES = ("/admin/runs/run/{run_id}/change/", "/admin/runs/run/{run_id}/delete/")


def admin_pages() -> list[str]:
    from django.contrib import admin

    lists = sorted(
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for model in admin.site._registry
    )
    return [ADMIN_INDEX_PAGE, *lists, *ADMIN_RUN_PAGES]


# Sockets: the handshake (HTTP 403 when refused), then each action of docs/websocket.md.
REFUSED = {"handshake": "403"}


def socket_open(resume: str) -> dict[str, str]:
    return {
        "handshake": "connected",
        "ping": "pong",
        "subscribe": m.QUIET,
        "unsubscribe": m.QUIET,
        "resume": resume,
    }


ANY_SIGNED_IN_SOCKET = who(
    anonymous=REFUSED,
    expired=REFUSED,
    revoked=REFUSED,
    other=socket_open("error:unknown_action"),  # resume is the run socket's alone
    owner=socket_open("error:unknown_action"),
    staff=socket_open("error:unknown_action"),
    viewer=socket_open("error:unknown_action"),
    unshared=socket_open("error:unknown_action"),
    public=socket_open("error:unknown_action"),
)
SOCKETS: dict[str, dict[str, Any]] = {
    "/ws/runs/": ANY_SIGNED_IN_SOCKET,
    "/ws/system/": ANY_SIGNED_IN_SOCKET,
    # The run's socket: whoever may see the run; resume replays its stored events.
    "/ws/runs/<int:run_id>/": who(
        anonymous=REFUSED,
        expired=REFUSED,
        revoked=REFUSED,
        other=REFUSED,
        unshared=REFUSED,
        owner=socket_open("status"),
        staff=socket_open("status"),
        viewer=socket_open("status"),
        public=socket_open("status"),
    ),
}

# Routes whose refusal-looking answer (logout's redirect to the login page) still changes
# something the later rows use: asked with throwaway credentials every time.
# The apps' own rows (tests/support/access_rows_<app>.py), merged into the tables above.
APPS = app_rows()
ROUTES = merged(ROUTES, [rows.routes for rows in APPS])
SOCKETS = merged(SOCKETS, [rows.sockets for rows in APPS])
QUERIES = merged(QUERIES, [rows.queries for rows in APPS])
BODIES = merged(BODIES, [rows.bodies for rows in APPS])
VARIANTS = merged(VARIANTS, [rows.variants for rows in APPS])

THROWAWAY_ALWAYS = frozenset({"logout"})

# Rows that answer wrongly today, marked so the suite stays green: name -> the bug.
KNOWN_BUGS: dict[str, str] = {}


# ----- asking -----------------------------------------------------------------------------


# Callers whose rows name each of the module's two object sets (the private run, the public).
SHARED_OBJECTS_OF = (m.OWNER, m.PUBLIC)


def _flush() -> None:
    """Empty every table, as a ``transaction=True`` test's teardown does; tried again when a
    worker still writing for a run queued here makes PostgreSQL abort it as a deadlock."""
    from tests.support.fixtures import outlasting_a_deadlock

    outlasting_a_deadlock(lambda: call_command("flush", verbosity=0, interactive=False))


@pytest.fixture(scope="module")
def world(daphne_server, django_db_blocker):
    """The people, their credentials and the owner's runs, committed for Daphne to read, for
    the whole module (an empty database before and after, as ``transaction=True`` tests)."""
    from runs.models import Run, RunStatus
    from tests.support.servers import purge_queues

    with django_db_blocker.unblock():
        _flush()
        world = m.world_build()
        world.before = [m.fingerprint(world.values[c]) for c in SHARED_OBJECTS_OF]
    yield world
    # The runs queued, cloned and forked here: no worker of the session is to train them.
    purge_queues()
    with django_db_blocker.unblock():
        Run.objects.filter(status=RunStatus.QUEUED).update(status=RunStatus.CANCELLED)
        _flush()


@pytest.fixture(scope="module")
def http(daphne_server):
    with httpx.Client(base_url=daphne_server, timeout=30) as client:
        yield client


def _rows(table: dict[str, Any], found: list[str]) -> list[Any]:
    return [
        pytest.param(name, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name])])
        if name in KNOWN_BUGS
        else name
        for name in sorted(set(table) | set(found))
    ]


def _route_names() -> list[str]:
    return [*m.url_routes(), *VARIANTS]


def _body(name: str, method: str, values: dict[str, Any]) -> dict[str, Any] | None:
    body = BODIES.get((name, method))
    if body is None:
        return None
    return {
        key: type(value)(value.format(**values)) if isinstance(value, str) else value
        for key, value in body.items()
    }


@pytest.mark.parametrize("name", _rows(ROUTES, _route_names()))
def test_route(name, world, http, django_db_blocker):
    routes = m.url_routes()
    base, overrides = VARIANTS.get(name, (name, {}))
    if name not in ROUTES:
        pytest.fail(f"new route {name} ({routes[name]}): add it to the access matrix")
    if base not in routes:
        pytest.fail(f"route {name} is gone from the URLconf: remove its row")
    wrong = []
    for method in m.METHODS:
        for caller in m.CALLERS:
            expected = ROUTES[name][method][caller]
            credentials, values = world.credentials[caller], world.values[caller]
            unsafe = method not in m.SAFE_METHODS
            if unsafe and (expected not in m.REFUSALS or name in THROWAWAY_ALWAYS):
                with django_db_blocker.unblock():
                    credentials, values = m.throwaway(world, caller)
            values = {**values, **overrides}
            url = m.fill(routes[base], values) + QUERIES.get(name, "").format(**values)
            got = m.ask(http, method, url, credentials, _body(name, method, values))
            if got != expected:
                wrong.append(f"{method} {url} as {caller}: expected {expected}, got {got}")
    assert not wrong, f"{name}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("page", admin_pages())
def test_admin(page, world, http):
    answers = ADMIN_INDEX if page == ADMIN_INDEX_PAGE else ADMIN_MODEL
    wrong = []
    for method in m.METHODS:
        for caller in m.CALLERS:
            url = page.format(**world.values[caller])
            got = m.ask(http, method, url, world.credentials[caller])
            if got != answers[caller]:
                wrong.append(f"{method} {url} as {caller}: expected {answers[caller]}, got {got}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", _rows(SOCKETS, m.socket_routes()))
@pytest.mark.parametrize("by", ["token", "session"])
def test_socket(path, by, world, daphne_server):
    """Each caller as a client with a token and as a browser (session cookie and Origin);
    the dead tokens and anonymous have no session, so ask as they are either way."""
    if path not in SOCKETS:
        pytest.fail(f"new socket route {path}: add it to the access matrix")
    if path not in m.socket_routes():
        pytest.fail(f"socket route {path} is gone from monitoring/routing.py: remove its row")
    wrong = []
    for caller in m.CALLERS:
        url = m.fill(path, world.values[caller])
        credentials = world.credentials[caller]
        if by == "session" and credentials.session:
            ask = m.socket_session(daphne_server, url, None, session=credentials.session)
        else:
            ask = m.socket_session(daphne_server, url, credentials.token)
        got = asyncio.run(ask)
        if got != SOCKETS[path][caller]:
            wrong.append(f"{url} as {caller} by {by}: expected {SOCKETS[path][caller]}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_the_refused_rows_changed_nothing(world, django_db_blocker):
    """After every row above (this test runs after them, in file order): the module's two
    runs, their preset and spare token are as built, so no refusal let a change through."""
    with django_db_blocker.unblock():
        after = [m.fingerprint(world.values[c]) for c in SHARED_OBJECTS_OF]
    assert after == world.before


# Marked for the database so pytest-django creates the test database when this module runs
# alone (the rows ask Daphne, and reach the database through the module's fixture only).
@pytest.mark.django_db
def test_the_matrix_knows_the_admin_and_every_socket_action():
    """The admin is in the URLconf (its family is asked by prefix) and every client action
    docs/websocket.md lists is asked of every socket."""
    from django.urls import get_resolver

    assert any(
        str(p.pattern) == m.ADMIN_PREFIX.strip("/") + "/" for p in get_resolver().url_patterns
    )
    with open("docs/websocket.md", encoding="utf-8") as doc:
        text = doc.read()
    section = text[text.index("## Client → server") :]
    section = section[: section.index("\n## ", 1)]
    for action in m.SOCKET_ACTIONS:
        assert f'"{action}"' in section, action
    documented = {part.split('"')[0] for part in section.split('"action": "')[1:]}
    assert documented <= set(m.SOCKET_ACTIONS), documented - set(m.SOCKET_ACTIONS)
