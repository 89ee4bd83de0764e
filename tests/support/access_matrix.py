"""The machinery of the access matrix (tests/integration/test_access_matrix.py): the routes
found in the URL configuration and the WebSocket routing, the callers and the objects their
requests name, and one request over the real wire classified into an outcome.

The expectations themselves are data in the test module; this file only asks and answers."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import websockets
from django.urls import URLPattern, URLResolver, get_resolver

from tests.support.sockets import ws_url

# Outcomes: "ok" (2xx, or a redirect that is not to a login page), "login" (302 to the site's
# login page), "admin-login" (302 to the admin's), "error-message" (a page's refusal answered as
# a redirect back with an error message, as ``runs.pages.redirect_on_refusal`` does), or any
# other status code as an int.
Outcome = str | int
OK, LOGIN, ADMIN_LOGIN, ERROR_MESSAGE = "ok", "login", "admin-login", "error-message"
# The outcomes that let nothing through (an unsafe row expecting one of these asks about the
# module's objects; any other asks about throwaway ones).
REFUSALS = frozenset({LOGIN, ADMIN_LOGIN, ERROR_MESSAGE, 401, 403, 404, 405})

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SAFE_METHODS = frozenset({"GET"})
ADMIN_PREFIX = "/admin/"

# Who asks. Page routes are asked with a session cookie (the token callers send their token,
# which pages ignore); API routes and sockets with ``Authorization: Token``. Every caller asks
# about the owner's private run (shared read-only with the shared-with viewer), except
# ``PUBLIC``: the other trainer again, about a run of the owner's made public.
ANONYMOUS = "anonymous"
OTHER = "other trainer"
OWNER = "owner"
STAFF = "staff"
EXPIRED = "expired token"
REVOKED = "revoked token"
VIEWER = "viewer shared-with"
UNSHARED = "viewer not shared-with"
PUBLIC = "signed-in, public run"
CALLERS = (ANONYMOUS, OTHER, OWNER, STAFF, EXPIRED, REVOKED, VIEWER, UNSHARED, PUBLIC)
# Whose session and token each caller uses (the dead tokens are the owner's own).
PERSON = {
    OTHER: "oscar",
    OWNER: "olivia",
    STAFF: "stella",
    EXPIRED: "olivia",
    REVOKED: "olivia",
    VIEWER: "vera",
    UNSHARED: "victor",
    PUBLIC: "oscar",
}
LIVE_CALLERS = (OTHER, OWNER, STAFF, VIEWER, UNSHARED, PUBLIC)

# The client -> server actions docs/websocket.md lists ("Client → server").
SOCKET_ACTIONS = ("ping", "subscribe", "unsubscribe", "resume")


def url_routes() -> dict[str, str]:
    """Every route of the URL configuration outside the admin: its name (``namespace:name``)
    -> its route string (``/runs/<int:run_id>/``). An unnamed route is keyed by its string."""
    found: dict[str, str] = {}

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith(ADMIN_PREFIX):
                continue  # the admin's routes: one family, asked by prefix
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, route, inner)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}{pattern.name}" if pattern.name else route
                assert name not in found, f"two routes named {name}: {found[name]}, {route}"
                found[name] = route

    walk(get_resolver().url_patterns, "/", "")
    return found


def socket_routes() -> list[str]:
    """Every WebSocket path of monitoring/routing.py, as ``/ws/runs/<int:run_id>/``."""
    from monitoring.routing import websocket_urlpatterns

    return ["/" + str(pattern.pattern) for pattern in websocket_urlpatterns]


def fill(route: str, values: dict[str, Any]) -> str:
    """``route`` with its parameters replaced by ``values``; every parameter must be known."""
    for name, value in values.items():
        for converter in ("int", "str", "slug", "path"):
            route = route.replace(f"<{converter}:{name}>", str(value))
    assert "<" not in route, f"a route parameter the access matrix does not know: {route}"
    return route


@dataclass
class Credentials:
    """How one caller asks: a session key for pages, a token key for the API and sockets."""

    session: str | None = None
    token: str | None = None


@dataclass
class World:
    """The people, how each caller asks, and the objects each caller's rows name (by caller:
    the private run's for most, the public run's for ``PUBLIC``); built once per module."""

    people: dict[str, Any]
    credentials: dict[str, Credentials]
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The fingerprints of the module's runs once built (``fingerprint``).
    before: list[dict[str, Any]] = field(default_factory=list)

    def owner(self) -> Any:
        return self.people[PERSON[OWNER]]


def _session_for(user: Any) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return str(session.session_key)


def live_credentials(user: Any) -> Credentials:
    """A fresh session and a fresh token for ``user`` (a throwaway pair for an unsafe row:
    logging out or revoking the current token must not break the rows after it)."""
    from tests.support.tokens import api_token

    return Credentials(session=_session_for(user), token=api_token(user, name="matrix"))


def dead_token(user: Any, *, how: str) -> str:
    """A token of ``user``'s that is expired or revoked (``how``); its row stays."""
    from django.utils import timezone

    from accounts.models import ApiToken
    from accounts.services import token_create, token_revoke

    token, key = token_create(user=user, name=f"matrix {how}", expires_in_days=30)
    if how == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    else:
        token_revoke(token=token)
    return key


def owners_objects(owner: Any, *, viewer: Any, public: bool = False) -> dict[str, Any]:
    """A completed run of the owner's with a checkpoint, a game record, an evaluation and an
    event, shared read-only with ``viewer`` (and public if asked), a preset and a spare token:
    every parameter a route names."""
    from django.core.files.base import ContentFile

    from accounts.services import token_create
    from monitoring.services import event_record
    from runs.models import Checkpoint, Evaluation, GameRecord, Preset, Run, RunStatus
    from runs.services.sharing import run_set_public, run_share
    from tests.support.access_rows import app_rows

    run = Run.objects.create(owner=owner, trainer="digits", config={}, status=RunStatus.COMPLETED)
    checkpoint = Checkpoint(run=run, step=8, kind="final", size=1, sha256="0" * 64)
    checkpoint.file.save("matrix.pt", ContentFile(b"x"))  # saves the row too
    record = GameRecord.objects.create(
        run=run, source="sample", black="a", white="b", result="draw", plies=0, start_sfen="x"
    )
    evaluation = Evaluation.objects.create(run=run, checkpoint=checkpoint, opponent="random")
    event_record(run_id=run.pk, type="status", message="run completed", data={"status": "done"})
    run_share(run=run, by=owner, users=[viewer.get_username()])
    if public:
        run_set_public(run=run, by=owner, public=True)
    preset = Preset.objects.create(
        owner=owner, name=f"matrix {run.pk}", trainer="digits", config={}
    )
    spare, _ = token_create(user=owner, name="matrix spare", expires_in_days=30)
    values = {
        "run_id": run.pk,
        "checkpoint_id": checkpoint.pk,
        "record_id": record.pk,
        "evaluation_id": evaluation.pk,
        "preset_id": preset.pk,
        "token_id": spare.pk,
        "name": "digits",
        "fmt": "kif",
    }
    for rows in app_rows():  # the objects an app's routes name (access_rows_<app>.py)
        if rows.objects is not None:
            values.update(rows.objects(owner=owner, viewer=viewer, values=dict(values)))
    return values


# A CSRF secret sent as both cookie and header: pages' unsafe methods pass the CSRF check,
# so what answers is the access check behind it.
CSRF = secrets.token_hex(16)


def _error_messages(response: httpx.Response) -> bool:
    """Whether the response leaves an error message for the next page (Django's messages
    cookie, signed with the SECRET_KEY the servers share with this process)."""
    from django.contrib.messages import constants
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.http import HttpRequest

    raw = response.cookies.get("messages")
    if not raw:
        return False
    messages = CookieStorage(HttpRequest())._decode(raw.strip('"')) or []
    return any(message.level >= constants.ERROR for message in messages)


def classify(response: httpx.Response) -> Outcome:
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        if location.startswith("/accounts/login/"):
            return LOGIN
        if location.startswith("/admin/login/"):
            return ADMIN_LOGIN
        return ERROR_MESSAGE if _error_messages(response) else OK
    return OK if 200 <= status < 300 else status


def ask(
    client: httpx.Client,
    method: str,
    url: str,
    credentials: Credentials,
    body: dict[str, Any] | None = None,
) -> Outcome:
    """One request over the wire as ``credentials`` with ``body`` (JSON to the API, a form to
    pages; empty by default); its outcome."""
    headers = {"Accept": "*/*"}
    cookies = {"csrftoken": CSRF}
    if credentials.session:
        cookies["sessionid"] = credentials.session
    if credentials.token:
        headers["Authorization"] = f"Token {credentials.token}"
    content = b""
    if method not in SAFE_METHODS:
        headers["X-CSRFToken"] = CSRF
        if url.startswith("/api/"):
            headers["Content-Type"] = "application/json"
            content = json.dumps(body or {}).encode()
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = urlencode(body or {}).encode()
    headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    response = client.request(method, url, headers=headers, content=content)
    client.cookies.clear()  # nothing a response sets carries over to the next caller
    return classify(response)


# Socket outcomes: the handshake refused (HTTP 403), or the first message's type once open.
REFUSED = "refused"
QUIET = "quiet"  # the action has no answer: the ping after it is answered first


async def socket_session(
    base: str, path: str, token: str | None, *, session: str | None = None
) -> dict[str, str]:
    """Connects as ``token``, or as a browser does (``session``: its cookie, and the page's
    Origin), or anonymously (neither); ``{"handshake": ...}`` and, once open, what each
    action of ``SOCKET_ACTIONS`` is answered with (the next message's type, an error's code
    as ``error:<code>``, or ``quiet``; each action is followed by a ping to tell)."""
    headers = {"Authorization": f"Token {token}"} if token else {}
    if session:
        headers = {"Cookie": f"sessionid={session}", "Origin": base}
    try:
        ws = await websockets.connect(
            ws_url(base, path), additional_headers=headers, open_timeout=30
        )
    except websockets.InvalidStatus as refused:
        return {"handshake": str(refused.response.status_code)}
    answers: dict[str, str] = {}
    async with ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 30))
        answers["handshake"] = first["type"]
        for action in SOCKET_ACTIONS:
            body: dict[str, Any] = {"action": action}
            if action in ("subscribe", "unsubscribe"):
                body["types"] = ["progress"]
            if action == "resume":
                body["after_seq"] = 0
            await ws.send(json.dumps(body))
            if action != "ping":
                await ws.send(json.dumps({"action": "ping"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
            kind = reply["type"]
            answers[action] = f"error:{reply['data']['code']}" if kind == "error" else kind
            if action != "ping" and kind != "pong":
                while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "pong":
                    pass  # the rest of a replay, up to the ping's answer
            elif action != "ping":
                answers[action] = QUIET
    return answers


def world_build() -> World:
    """Every person, their credentials and the two object sets (the caller needs DB access)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from runs.models import VIEWERS_GROUP

    users = get_user_model().objects
    viewers, _ = Group.objects.get_or_create(name=VIEWERS_GROUP)
    people = {name: users.create_user(name) for name in ("olivia", "oscar", "vera", "victor")}
    people["stella"] = users.create_user("stella", is_staff=True)
    for name in ("vera", "victor"):
        people[name].groups.add(viewers)
    credentials = {ANONYMOUS: Credentials()}
    for caller in LIVE_CALLERS:
        credentials[caller] = live_credentials(people[PERSON[caller]])
    credentials[EXPIRED] = Credentials(token=dead_token(people["olivia"], how="expired"))
    credentials[REVOKED] = Credentials(token=dead_token(people["olivia"], how="revoked"))
    world = World(people=people, credentials=credentials)
    private = owners_objects(people["olivia"], viewer=people["vera"])
    public = owners_objects(people["olivia"], viewer=people["vera"], public=True)
    world.values = {caller: public if caller == PUBLIC else private for caller in CALLERS}
    return world


def fingerprint(values: dict[str, Any]) -> dict[str, Any]:
    """What a refused request must not change about the run ``values`` names (and its
    preset and spare token)."""
    from accounts.models import ApiToken
    from runs.models import Checkpoint, Command, Evaluation, Preset, Run

    run = Run.objects.filter(pk=values["run_id"]).first()
    return {
        "run": run and (run.status, run.name, run.tags, run.notes, run.public, run.priority),
        "shares": run and sorted(run.shares.values_list("user_id", "group_id")),
        "commands": Command.objects.filter(run_id=values["run_id"]).count(),
        "evaluations": Evaluation.objects.filter(run_id=values["run_id"]).count(),
        "checkpoints": Checkpoint.objects.filter(pk=values["checkpoint_id"]).exists(),
        "preset": Preset.objects.filter(pk=values["preset_id"]).exists(),
        "token_revoked": ApiToken.objects.get(pk=values["token_id"]).revoked_at,
    }


def throwaway(world: World, caller: str) -> tuple[Credentials, dict[str, Any]]:
    """Fresh credentials and objects for one unsafe row a caller is let through: deleting the
    run, revoking the current token or logging out touches these, not the module's."""
    credentials = world.credentials[caller]
    if caller in LIVE_CALLERS:
        credentials = live_credentials(world.people[PERSON[caller]])
    values = owners_objects(world.owner(), viewer=world.people["vera"], public=caller == PUBLIC)
    return credentials, values
