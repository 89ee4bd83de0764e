"""The access matrix's vocabulary: a cell per caller (``who``) and the rows every kind of
route shares (a page that names the owner's run, an API read of it, a change to it, ...).

The table itself is ``tests/integration/test_access_matrix.py``; the rows of the routes an app
adds live beside it in ``tests/support/access_rows_<app>.py`` (``ROWS``), so that apps built at
the same time never edit one file (docs/security.md, "The access matrix").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support import access_matrix as m
from tests.support.access_matrix import ADMIN_LOGIN, ERROR_MESSAGE, LOGIN, OK, Outcome


def who(
    *,
    anonymous: Outcome,
    other: Outcome,
    owner: Outcome,
    staff: Outcome,
    expired: Outcome,
    revoked: Outcome,
    viewer: Outcome,
    unshared: Outcome,
    public: Outcome,
) -> dict[str, Outcome]:
    """One cell per caller, every caller named (no default can hide one)."""
    return {
        m.ANONYMOUS: anonymous,
        m.OTHER: other,
        m.OWNER: owner,
        m.STAFF: staff,
        m.EXPIRED: expired,
        m.REVOKED: revoked,
        m.VIEWER: viewer,
        m.UNSHARED: unshared,
        m.PUBLIC: public,
    }


def everyone(outcome: Outcome) -> dict[str, Outcome]:
    return dict.fromkeys(m.CALLERS, outcome)


# Pages: no session is a redirect to the login page (a token is no session).
PAGE_DEAD = {"anonymous": LOGIN, "expired": LOGIN, "revoked": LOGIN}
# The API: no live token is 401 (docs/api.md).
API_DEAD = {"anonymous": 401, "expired": 401, "revoked": 401}


def page_signed_in(outcome: Outcome = OK) -> dict[str, Outcome]:
    """Any signed-in person; the run named (if any) is not asked about."""
    live = dict.fromkeys(("other", "owner", "staff", "viewer", "unshared", "public"), outcome)
    return who(**PAGE_DEAD, **live)


def api_signed_in(outcome: Outcome = OK) -> dict[str, Outcome]:
    live = dict.fromkeys(("other", "owner", "staff", "viewer", "unshared", "public"), outcome)
    return who(**API_DEAD, **live)


# A route that names the owner's run, read: whoever may see it (owner, staff, shared-with,
# anyone on a public run); to everyone else it does not exist.
PAGE_RUN_READ = who(**PAGE_DEAD, other=404, owner=OK, staff=OK, viewer=OK, unshared=404, public=OK)


def api_run_read(allowed: Outcome = OK) -> dict[str, Outcome]:
    """``allowed``: what those who may see the run get (a 400 when the query asks nothing)."""
    return who(
        **API_DEAD,
        other=404,
        owner=allowed,
        staff=allowed,
        viewer=allowed,
        unshared=404,
        public=allowed,
    )


API_RUN_READ = api_run_read()


def api_run_steer(allowed: Outcome = OK) -> dict[str, Outcome]:
    """Changing the owner's run: owner and staff (``allowed``: what the empty or invalid body
    then gets); a read-only sharer is told 403, everyone else 404."""
    return who(
        **API_DEAD,
        other=404,
        owner=allowed,
        staff=allowed,
        viewer=403,
        unshared=404,
        public=403,
    )


# The page forms that steer (edit, sharing) answer a read-only caller with the run page and
# an error message (runs.pages.redirect_on_refusal).
PAGE_RUN_STEER_FORM = who(
    **PAGE_DEAD,
    other=404,
    owner=OK,
    staff=OK,
    viewer=ERROR_MESSAGE,
    unshared=404,
    public=ERROR_MESSAGE,
)
PAGE_405 = page_signed_in(405)
RUN_FORM = {**PAGE_RUN_READ, m.VIEWER: 403, m.UNSHARED: 403}
# A POST reads its source from the form (none here): the form again, with its errors.
RUN_FORM_POST = {**page_signed_in(), m.VIEWER: 403, m.UNSHARED: 403}
API_405 = api_signed_in(405)
# The owner's own things that are not runs (a preset, a token): the owner alone, 404 to all.
PAGE_OWNERS_OWN = who(
    **PAGE_DEAD, other=404, owner=OK, staff=404, viewer=404, unshared=404, public=404
)
API_OWNERS_OWN = who(
    **API_DEAD, other=404, owner=OK, staff=404, viewer=404, unshared=404, public=404
)
PAGE_STAFF_ONLY = who(
    **PAGE_DEAD, other=404, owner=404, staff=OK, viewer=404, unshared=404, public=404
)
# Django's admin: staff in; everyone else to the admin's login. Staff without a model's
# permissions (this staff member has none) are refused its pages.
ADMIN_INDEX = {**everyone(ADMIN_LOGIN), m.STAFF: OK}
ADMIN_MODEL = {**everyone(ADMIN_LOGIN), m.STAFF: 403}


def methods(**by_method: dict[str, Outcome]) -> dict[str, dict[str, Outcome]]:
    """A row: every method named."""
    assert set(by_method) == set(m.METHODS), f"a row names {sorted(by_method)}"
    return by_method


def every_method(answers: dict[str, Outcome]) -> dict[str, dict[str, Outcome]]:
    """A view that does not look at the method (a plain Django function view)."""
    return dict.fromkeys(m.METHODS, answers)


def only(method: str, answers: dict[str, Outcome], refused: dict[str, Outcome]):
    """A view that takes one method; the others are ``refused`` (405, after sign-in)."""
    return {name: answers if name == method else refused for name in m.METHODS}


def api_get(answers: dict[str, Outcome]):
    return only("GET", answers, API_405)


@dataclass
class AppRows:
    """An app's part of the table, merged into the matrix's own (a name in two parts fails)."""

    routes: dict[str, dict[str, dict[str, Outcome]]] = field(default_factory=dict)
    sockets: dict[str, dict[str, Any]] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)
    bodies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variants: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    # The app's objects of the owner's run (set up with DB access), as more route parameters:
    # objects(owner=..., viewer=..., values=the core parameters) -> {"param": value}.
    objects: Callable[..., dict[str, Any]] | None = None


# The apps whose rows live in tests/support/access_rows_<name>.py (each defines ``ROWS``).
APPS = ("alerts", "play", "games")


def app_rows() -> list[AppRows]:
    return [importlib.import_module(f"tests.support.access_rows_{name}").ROWS for name in APPS]


def merged(core: dict[Any, Any], parts: list[dict[Any, Any]]) -> dict[Any, Any]:
    """``core`` with every app's ``parts``; a key named twice is a mistake in the table."""
    table = dict(core)
    for part in parts:
        twice = set(table) & set(part)
        assert not twice, f"access matrix rows named twice: {sorted(twice)}"
        table.update(part)
    return table
