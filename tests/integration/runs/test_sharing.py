"""Roles and sharing (runs.access, services.sharing): a run shared read-only with a user, a
group or every signed-in user is watched and downloaded by them on every route family, never
steered; a run not shared stays a 404; a viewer may not queue; every change is audited."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import websockets
from django.contrib.auth.models import Group

from audit.models import Action
from keisei.interfaces import CheckpointInfo
from monitoring.models import RunEvent
from runs import access, services
from runs.models import VIEWERS_GROUP, Checkpoint, Command, GameRecord, Run, RunShare, RunStatus
from runs.services.sharing import run_set_public, run_share, run_sharing_set, run_unshare
from tests.conftest import _user
from tests.support import sockets
from tests.support.audit_trail import AuditTrail
from tests.support.refusals import fields, refusal

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def viewer(db):
    """Vera has the viewer role (group "viewers"): she watches what is shared with her."""
    vera = _user("vera")
    vera.groups.add(Group.objects.get_or_create(name=VIEWERS_GROUP)[0])
    return vera


@pytest.fixture
def trainer(db):
    """Tom is another trainer: he may clone what he may see."""
    return _user("tom")


@pytest.fixture
def run(owner):
    return Run.objects.create(
        owner=owner, trainer="digits", config={"epochs": 2}, name="secret-sauce", status="running"
    )


def checkpoint_of(run: Run, tmp_path: Path) -> Checkpoint:
    path = tmp_path / "weights.pt"
    path.write_bytes(b"weights")
    return services.checkpoint_record(
        run_id=run.pk, info=CheckpointInfo(path=path, step=3, kind="manual", metrics={})
    )


def game_of(run: Run) -> GameRecord:
    return GameRecord.objects.create(
        run=run, source="sample", black="a", white="b", result="draw", plies=0, start_sfen="x"
    )


# ----- the service and the access module --------------------------------------------------------


def test_runs_are_private_until_shared_with_a_user(owner, viewer, run):
    assert not access.may_view_run(viewer, run.pk)
    trail = AuditTrail()
    assert run_share(run=run, by=owner, users=["vera"]) == ["user vera"]
    entry = trail.one(Action.RUN_SHARE)
    assert (entry.username, entry.target_id, entry.details) == (
        "olivia",
        str(run.pk),
        {"users": ["vera"], "groups": []},
    )
    assert access.may_view_run(viewer, run.pk)
    assert not access.may_steer_run(user=viewer, run=run)
    with pytest.raises(access.RunReadOnly):
        access.run_for_steerer(user=viewer, run_id=run.pk)
    # Sharing twice is no new share and no new entry.
    assert run_share(run=run, by=owner, users=["vera"]) == []
    assert trail.new() == []
    assert run_unshare(run=run, by=owner, users=["vera"]) == ["user vera"]
    trail.one(Action.RUN_UNSHARE)
    assert not access.may_view_run(viewer, run.pk)


def test_a_group_share_reaches_every_member_and_only_them(owner, viewer, outsider, run):
    team = Group.objects.create(name="team-a")
    viewer.groups.add(team)
    run_share(run=run, by=owner, groups=["team-a"])
    assert access.may_view_run(viewer, run.pk)
    assert not access.may_view_run(outsider, run.pk)
    # Shared directly and through a group: still one row in every list.
    run_share(run=run, by=owner, users=["vera"])
    assert list(access.runs_visible(user=viewer).values_list("pk", flat=True)) == [run.pk]


def test_public_runs_are_seen_by_every_signed_in_user_and_audited(owner, outsider, run):
    trail = AuditTrail()
    assert run_set_public(run=run, by=owner, public=True)
    assert trail.one(Action.RUN_PUBLIC).details == {"public": True}
    assert not run_set_public(run=run, by=owner, public=True)  # already: nothing recorded
    assert trail.new() == []
    assert access.may_view_run(outsider, run.pk)
    assert not access.may_view_run(None, run.pk)
    run_set_public(run=run, by=owner, public=False)
    assert not access.may_view_run(outsider, run.pk)


def test_sharing_changes_are_on_the_run_timeline(owner, viewer, run):
    run_share(run=run, by=owner, users=["vera"])
    event = RunEvent.objects.filter(run=run).order_by("-seq").first()
    assert event is not None
    assert (event.message, event.actor) == ("shared read-only with user vera", "user:olivia")


def test_unknown_names_are_refused_naming_field_and_name_and_nothing_changes(owner, viewer, run):
    with pytest.raises(services.ApplicationError) as refused:
        run_sharing_set(run=run, by=owner, public=True, users=["vera", "nobody"], groups=["x"])
    assert refused.value.fields == {
        "users": ["no user named 'nobody'"],
        "groups": ["no group named 'x'"],
    }
    run.refresh_from_db()
    assert not run.public and not RunShare.objects.filter(run=run).exists()


def test_visible_runs_is_one_query_however_many_shares(owner, viewer, django_assert_num_queries):
    team = Group.objects.create(name="team-a")
    viewer.groups.add(team)
    for i in range(12):
        shared = Run.objects.create(owner=owner, trainer="digits", config={}, name=f"r{i}")
        run_share(run=shared, by=owner, users=["vera"], groups=["team-a"])
    with django_assert_num_queries(1):
        runs = list(access.runs_visible(user=viewer))
        owners = {r.owner.get_username() for r in runs}
    assert len(runs) == 12 and owners == {"olivia"}


# ----- the API ---------------------------------------------------------------------------------


def test_owner_puts_sharing_and_anyone_who_may_view_gets_it(api_client, owner, viewer, run):
    Group.objects.create(name="team-a")
    url = f"/api/v1/runs/{run.pk}/sharing/"
    body = {"public": False, "users": ["vera"], "groups": ["team-a"]}
    answer = api_client(owner).put(url, body, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == body
    assert api_client(viewer).get(url).json() == body
    # Replaced whole: dropping a name unshares it.
    answer = api_client(owner).put(url, {"public": True, "users": [], "groups": []}, format="json")
    assert answer.json() == {"public": True, "users": [], "groups": []}
    assert not RunShare.objects.filter(run=run).exists()


def test_put_sharing_refusals(api_client, owner, viewer, outsider, staff, run):
    url = f"/api/v1/runs/{run.pk}/sharing/"
    unknown = api_client(owner).put(
        url, {"public": False, "users": ["ghost"], "groups": []}, format="json"
    )
    assert unknown.status_code == 400
    assert fields(unknown) == {"users": ["no user named 'ghost'"]}
    missing = api_client(owner).put(url, {"users": []}, format="json")
    assert missing.status_code == 400 and "public" in fields(missing)
    run_share(run=run, by=owner, users=["vera"])
    body = {"public": True, "users": [], "groups": []}
    read_only = api_client(viewer).put(url, body, format="json")
    assert read_only.status_code == 403
    assert refusal(read_only)["code"] == "run_read_only"
    assert api_client(outsider).put(url, body, format="json").status_code == 404
    assert api_client(outsider).get(url).status_code == 404
    assert api_client().get(url).status_code == 401
    assert api_client(staff).put(url, body, format="json").status_code == 200


def test_shared_with_viewer_reads_every_api_route_and_steers_none(
    api_client, owner, viewer, run, tmp_path
):
    checkpoint = checkpoint_of(run, tmp_path)
    game = game_of(run)
    run_share(run=run, by=owner, users=["vera"])
    vera = api_client(viewer)
    base = f"/api/v1/runs/{run.pk}"
    for url in (
        f"{base}/",
        f"{base}/checkpoints/",
        f"{base}/evaluations/",
        f"{base}/games/",
        f"{base}/games/{game.pk}/",
        f"{base}/commands/",
        f"{base}/sharing/",
    ):
        assert vera.get(url).status_code == 200, url
    download = vera.get(f"{base}/checkpoints/{checkpoint.pk}/download/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"weights"
    steering = [
        vera.post(f"{base}/commands/", {"kind": "stop"}, format="json"),
        vera.patch(f"{base}/", {"name": "mine now"}, format="json"),
        vera.delete(f"{base}/"),
        vera.post(f"{base}/requeue/"),
        vera.post(f"{base}/checkpoints/{checkpoint.pk}/evaluate/", {}, format="json"),
    ]
    for answer in steering:
        assert answer.status_code == 403, answer.content
        assert refusal(answer)["code"] == "run_read_only"
    assert not Command.objects.filter(run=run).exists()
    run.refresh_from_db()
    assert run.name == "secret-sauce"


def test_not_shared_users_get_404_on_every_api_route(api_client, owner, viewer, run, tmp_path):
    checkpoint = checkpoint_of(run, tmp_path)
    game = game_of(run)
    vera = api_client(viewer)
    base = f"/api/v1/runs/{run.pk}"
    for url in (
        f"{base}/",
        f"{base}/checkpoints/",
        f"{base}/checkpoints/{checkpoint.pk}/download/",
        f"{base}/games/{game.pk}/",
        f"{base}/sharing/",
    ):
        assert vera.get(url).status_code == 404, url
    assert vera.post(f"{base}/commands/", {"kind": "stop"}, format="json").status_code == 404
    assert vera.post(f"{base}/clone/", {}, format="json").status_code == 404


def test_public_run_is_read_by_a_trainer_not_by_anonymous(api_client, client, owner, trainer, run):
    run_set_public(run=run, by=owner, public=True)
    assert api_client(trainer).get(f"/api/v1/runs/{run.pk}/").status_code == 200
    assert api_client().get(f"/api/v1/runs/{run.pk}/").status_code == 401
    page = client.get(f"/runs/{run.pk}/")
    assert page.status_code == 302 and "/login" in page["Location"]
    stop = api_client(trainer).post(f"/api/v1/runs/{run.pk}/commands/", {"kind": "stop"})
    assert stop.status_code == 403


def test_a_trainer_clones_a_run_shared_with_them_into_their_own(api_client, owner, trainer, run):
    run_share(run=run, by=owner, users=["tom"])
    answer = api_client(trainer).post(f"/api/v1/runs/{run.pk}/clone/", {}, format="json")
    assert answer.status_code == 201, answer.content
    clone = Run.objects.get(pk=answer.json()["id"])
    assert (clone.owner, clone.parent_id, clone.public) == (trainer, run.pk, False)


def test_viewer_cannot_queue_by_api_clone_or_page(api_client, client, owner, viewer, run):
    run_share(run=run, by=owner, users=["vera"])
    before = Run.objects.count()
    queued = api_client(viewer).post(
        "/api/v1/runs/", {"trainer": "digits", "config": {"epochs": 1}}, format="json"
    )
    assert queued.status_code == 403
    assert refusal(queued)["code"] == "viewer_cannot_queue"
    assert refusal(queued)["role"] == "viewer"
    assert "viewer" in refusal(queued)["message"]
    cloned = api_client(viewer).post(f"/api/v1/runs/{run.pk}/clone/", {}, format="json")
    assert refusal(cloned)["code"] == "viewer_cannot_queue"
    client.force_login(viewer)
    form = client.get("/runs/new/", {"trainer": "digits"})
    assert form.status_code == 403 and "has the viewer role" in form.content.decode()
    sent = client.post("/runs/new/", {"trainer": "digits", "config.epochs": "1"})
    assert sent.status_code == 403 and "has the viewer role" in sent.content.decode()
    assert client.get(f"/runs/new/?from={run.pk}").status_code == 403  # clone from the page
    assert "New digits run" not in client.get("/runs/").content.decode()
    assert Run.objects.count() == before


def test_run_list_filter_shared(api_client, owner, trainer, run):
    mine = Run.objects.create(owner=trainer, trainer="digits", config={}, name="toms")
    public = Run.objects.create(owner=owner, trainer="digits", config={}, name="for-all")
    run_share(run=run, by=owner, users=["tom"])
    run_set_public(run=public, by=owner, public=True)
    Run.objects.create(owner=owner, trainer="digits", config={}, name="private")
    tom = api_client(trainer)

    def names(shared: str) -> set[str]:
        answer = tom.get("/api/v1/runs/", {"shared": shared})
        assert answer.status_code == 200, answer.content
        return {r["name"] for r in answer.json()["results"]}

    assert names("own") == {mine.name}
    assert names("with_me") == {run.name}
    assert names("public") == {public.name}
    every = {r["name"] for r in tom.get("/api/v1/runs/").json()["results"]}
    assert every == {mine.name, run.name, public.name}
    bad = tom.get("/api/v1/runs/", {"shared": "everyone"})
    assert bad.status_code == 400 and "shared" in fields(bad)


# ----- the pages -------------------------------------------------------------------------------


def test_run_page_sharing_card_for_owner_line_for_viewer(client, owner, viewer, run):
    client.force_login(owner)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert 'id="run-sharing"' in page and 'id="shared-by"' not in page
    run_share(run=run, by=owner, users=["vera"])
    client.force_login(viewer)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Shared with you by olivia" in page
    assert 'id="run-sharing"' not in page and 'id="run-commands"' not in page


def test_sharing_card_saves_and_names_unknown_users(client, owner, viewer, run):
    client.force_login(owner)
    saved = client.post(f"/runs/{run.pk}/sharing/", {"users": "vera", "public": "on"}, follow=True)
    assert b"Sharing saved." in saved.content
    run.refresh_from_db()
    assert run.public and RunShare.objects.filter(run=run, user=viewer).exists()
    refused = client.post(f"/runs/{run.pk}/sharing/", {"users": "vera, ghost"}, follow=True)
    assert b"no user named &#x27;ghost&#x27;" in refused.content
    run.refresh_from_db()
    assert run.public  # nothing changed


def test_viewer_pages_read_only(client, owner, viewer, outsider, run, tmp_path):
    checkpoint = checkpoint_of(run, tmp_path)
    game = game_of(run)
    run_share(run=run, by=owner, users=["vera"])
    client.force_login(viewer)
    for url in (
        f"/runs/{run.pk}/",
        f"/runs/{run.pk}/artifacts/",
        f"/runs/{run.pk}/games/{game.pk}/",
        f"/runs/{run.pk}/checkpoints/{checkpoint.pk}/download/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.post(f"/runs/{run.pk}/command/", {"kind": "stop"}).status_code == 403
    edit = client.post(f"/runs/{run.pk}/edit/", {"name": "mine"}, follow=True)
    assert b"read-only" in edit.content
    share = client.post(f"/runs/{run.pk}/sharing/", {"users": "oscar"}, follow=True)
    assert b"read-only" in share.content
    run.refresh_from_db()
    assert run.name == "secret-sauce" and not RunShare.objects.filter(user=outsider).exists()
    assert not Command.objects.filter(run=run).exists()
    client.force_login(outsider)
    for url in (f"/runs/{run.pk}/", f"/runs/{run.pk}/checkpoints/{checkpoint.pk}/download/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/runs/{run.pk}/command/", {"kind": "stop"}).status_code == 404


def test_the_runs_list_marks_shared_runs(client, owner, trainer, run):
    run_share(run=run, by=owner, users=["tom"])
    Run.objects.create(owner=trainer, trainer="digits", config={}, name="toms-own")
    client.force_login(trainer)
    page = client.get("/runs/").content.decode()
    assert "secret-sauce" in page and "toms-own" in page
    assert page.count('class="shared-marker') == 1
    only = client.get("/runs/", {"shared": "with_me"}).content.decode()
    assert "secret-sauce" in only and "toms-own" not in only


def test_requeue_is_steering(api_client, owner, viewer, run):
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
    run_share(run=run, by=owner, users=["vera"])
    assert api_client(viewer).post(f"/api/v1/runs/{run.pk}/requeue/").status_code == 403


# ----- the WebSocket, over a real Daphne --------------------------------------------------------


def test_shared_viewer_watches_the_run_socket_others_are_refused(daphne_server, owner, viewer, run):
    run_share(run=run, by=owner, users=["vera"])
    outsider = _user("oscar")

    tokens = {user.pk: sockets.token_for(user) for user in (viewer, outsider)}

    async def hello(user) -> dict:
        async with sockets.connect(daphne_server, f"/ws/runs/{run.pk}/", tokens[user.pk]) as ws:
            return await sockets.receive_type(ws, "connected")

    connected = asyncio.run(hello(viewer))
    assert connected["run"] == run.pk
    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(hello(outsider))
    assert refused.value.response.status_code == 403
    run_unshare(run=run, by=owner, users=["vera"])
    with pytest.raises(websockets.InvalidStatus):
        asyncio.run(hello(viewer))


def test_dashboard_socket_lists_runs_shared_with_the_viewer(daphne_server, owner, viewer, run):
    hidden = Run.objects.create(owner=owner, trainer="digits", config={}, status="running")
    team = Group.objects.create(name="team-a")
    viewer.groups.add(team)
    run_share(run=run, by=owner, groups=["team-a"])

    token = sockets.token_for(viewer)

    async def listed() -> list[int]:
        async with sockets.connect(daphne_server, "/ws/runs/", token) as ws:
            message = await sockets.receive_type(ws, "connected")
            return [r["id"] for r in message["data"]["runs"]]

    ids = asyncio.run(listed())
    assert run.pk in ids and hidden.pk not in ids


def test_dashboard_socket_follows_runs_shared_with_the_viewer_live(
    daphne_server, owner, viewer, run
):
    from runs.services.lifecycle import status_event_record

    hidden = Run.objects.create(owner=owner, trainer="digits", config={}, status="running")
    run_share(run=run, by=owner, users=["vera"])
    outsider = _user("oscar")
    tokens = {user.pk: sockets.token_for(user) for user in (viewer, outsider, owner)}

    async def watch(user, ready: asyncio.Event, seen: list[int]) -> None:
        async with sockets.connect(daphne_server, "/ws/runs/", tokens[user.pk]) as ws:
            await sockets.receive_type(ws, "connected")
            ready.set()
            while True:
                message = await sockets.receive_type(ws, "status")
                seen.append(message["run"])
                if message["data"].get("status") == "stopped":  # the last change below
                    return

    async def scenario() -> dict[str, list[int]]:
        seen: dict[str, list[int]] = {"vera": [], "oscar": [], "olivia": []}
        events = {name: asyncio.Event() for name in seen}
        users = {"vera": viewer, "oscar": outsider, "olivia": owner}
        tasks = [asyncio.create_task(watch(users[name], events[name], seen[name])) for name in seen]
        for event in events.values():
            await asyncio.wait_for(event.wait(), 30)
        await asyncio.to_thread(status_event_record, hidden, "paused", actor="test")
        await asyncio.to_thread(status_event_record, run, "paused", actor="test")
        await asyncio.to_thread(status_event_record, run, "stopped", actor="test")
        await asyncio.wait_for(asyncio.gather(tasks[0], tasks[2]), 30)
        tasks[1].cancel()  # Oscar sees none of it: his socket is closed without a last event
        return seen

    seen = asyncio.run(scenario())
    assert seen["vera"] == [run.pk, run.pk]  # the shared run's changes, live; not the other's
    assert seen["olivia"] == [hidden.pk, run.pk, run.pk]  # the owner: both of hers
    assert seen["oscar"] == []


def test_admin_shows_whom_a_run_is_shared_with(client, owner, viewer, staff, run):
    run_share(run=run, by=owner, users=["vera"])
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    client.force_login(staff)
    page = client.get(f"/admin/runs/run/{run.pk}/change/").content.decode()
    assert "user vera" in page
    listed = client.get("/admin/runs/runshare/")
    assert listed.status_code == 200 and "vera" in listed.content.decode()
    assert client.get("/admin/runs/runshare/add/").status_code == 403
