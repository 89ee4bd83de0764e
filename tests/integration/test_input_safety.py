"""What users type is shown as text, never run as markup, on every page that shows it; tags
are checked on the way in; downloads resolve only through the database.

A run is named ``<img src=x onerror=alert(1)>``, with such notes, config strings, a timeline
message, game players and (stored past the services, as old data or a direct write could)
a tag. Every server-rendered page and fragment that shows them carries the escaped text and
never the raw markup. The browser side (no dialog fires, the literal text is visible, live
updates) is tests/browser/test_input_safety.py.
"""

from __future__ import annotations

import html
import re

import pytest
from django.conf import settings

from runs import services
from runs.models import Checkpoint, Run
from runs.services.errors import ApplicationError
from tests.support.hostile import EVIL, EVIL_CONFIG, EVIL_NOTES, EVIL_TAG, evil_runs

pytestmark = pytest.mark.django_db

RAW = (EVIL, EVIL_NOTES, EVIL_TAG, EVIL_CONFIG, "<script>alert(")


def assert_escaped(body: bytes, *, shows: str = EVIL) -> None:
    text = body.decode()
    for raw in RAW:
        assert raw not in text, f"raw {raw!r} in the page"
    # the user's text is there, as text (escaped in HTML or in a JSON script block)
    escaped = html.escape(shows, quote=False)
    as_json = shows.replace("<", "\\u003C").replace(">", "\\u003E")
    assert escaped in text or html.escape(shows) in text or as_json in text, shows


@pytest.fixture
def evil(owner, tmp_path):
    return evil_runs(owner, tmp_path)


def test_pages_and_fragments_show_typed_text_escaped(client, owner, evil):
    first, second = evil
    game = first.game_records.get()
    client.force_login(owner)
    pages = {
        "runs list": "/runs/",
        "runs table": "/runs/table/",
        "run page": f"/runs/{first.pk}/",
        "timeline": f"/runs/{first.pk}/timeline/?before_seq=1000",
        "artifacts": f"/runs/{first.pk}/artifacts/",
        "compare": f"/runs/compare/?runs={first.pk},{second.pk}",
        "league": "/runs/league/",
        "showcase form": "/runs/league/showcase/",
        "game viewer": f"/runs/{first.pk}/games/{game.pk}/",
    }
    for name, path in pages.items():
        response = client.get(path)
        assert response.status_code == 200, (name, response.status_code)
        assert_escaped(response.content)
    # the notes, tag and config strings reach the run page, escaped
    page = client.get(f"/runs/{first.pk}/").content
    for shown in (EVIL_NOTES, EVIL_TAG, EVIL_CONFIG):
        assert_escaped(page, shows=shown)


def test_the_admin_shows_typed_text_escaped(client, admin_user, evil):
    first, _ = evil
    client.force_login(admin_user)
    for path in ("/admin/runs/run/", f"/admin/runs/run/{first.pk}/change/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_escaped(response.content)


def test_the_api_returns_typed_text_as_json_data(api_client, owner, evil):
    first, _ = evil
    body = api_client(owner).get(f"/api/v1/runs/{first.pk}/").json()
    assert body["name"] == EVIL and EVIL_TAG in body["tags"]


def test_a_tag_with_markup_is_refused_naming_the_field(owner):
    with pytest.raises(ApplicationError) as caught:
        services.run_queue(owner=owner, trainer="digits", config={}, tags=[EVIL_TAG])
    assert "tags.0" in caught.value.fields
    assert not Run.objects.exists()


# ----- downloads resolve through the database ---------------------------------------------------


def test_downloads_with_a_path_or_another_runs_file_are_404(client, api_client, owner, evil):
    """Every download route names what it serves by database ids (checkpoint, game record,
    run); nothing in a URL is ever a file path."""
    first, second = evil
    mine = Checkpoint.objects.filter(run=first).first()
    theirs = Checkpoint.objects.filter(run=second).first()
    game = first.game_records.get()
    client.force_login(owner)
    api = api_client(owner)
    # the real routes answer, so a 404 below is the path's, not a broken fixture
    assert client.get(f"/runs/{first.pk}/checkpoints/{mine.pk}/download/").status_code == 200
    assert api.get(f"/api/v1/runs/{first.pk}/checkpoints/{mine.pk}/download/").status_code == 200
    assert client.get(f"/runs/{first.pk}/games/{game.pk}.kif").status_code == 200
    name = mine.file.name
    refused = [
        # another run's checkpoint, under this run
        f"/runs/{first.pk}/checkpoints/{theirs.pk}/download/",
        f"/api/v1/runs/{first.pk}/checkpoints/{theirs.pk}/download/",
        # paths where an id belongs: traversal, absolute, encoded, the stored file's own name
        f"/runs/{first.pk}/checkpoints/../../../etc/passwd/download/",
        f"/runs/{first.pk}/checkpoints/%2e%2e%2f%2e%2e%2fetc%2fpasswd/download/",
        f"/runs/{first.pk}/checkpoints/%2Fetc%2Fpasswd/download/",
        f"/runs/{first.pk}/checkpoints/{name}/download/",
        f"/api/v1/runs/{first.pk}/checkpoints/..%2F{mine.pk}/download/",
        f"/api/v1/runs/{first.pk}/checkpoints/{mine.pk}%2F..%2F..%2Fsecret_key/download/",
        # games: another format, a path in the extension, another run's record
        f"/runs/{first.pk}/games/{game.pk}.py",
        f"/runs/{first.pk}/games/{game.pk}.kif%2F..%2F..%2Fsecret_key",
        f"/runs/{first.pk}/games/{game.pk}..%2F..%2Fsecret_key",
        f"/runs/{second.pk}/games/{game.pk}.kif",
        f"/api/v1/runs/{second.pk}/games/{game.pk}/",
        # exports: only the run's id names a metric CSV
        f"/api/v1/runs/..%2F{first.pk}/metrics.csv",
        f"/api/v1/runs/{first.pk}/..%2F..%2Fsecret_key.csv",
        "/media/" + name,
        "/static/../var/secret_key",
    ]
    answers = {path: (api if path.startswith("/api/") else client).get(path) for path in refused}
    wrong = {path: r.status_code for path, r in answers.items() if r.status_code != 404}
    assert not wrong, wrong
    for response in answers.values():
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert settings.SECRET_KEY.encode() not in body
        assert not re.search(rb"root:.*:0:0:", body)
