"""The login portal and the run pages, through Django's test client on the real database."""

from __future__ import annotations

import pytest

from runs.models import Run

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert b"Log in" in response.content


def test_healthz_says_the_process_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_new_run_form_shows_field_errors_and_stores_nothing(client, owner):
    client.force_login(owner)
    response = client.post(
        "/runs/new/?trainer=digits",
        {
            "trainer": "digits",
            "epochs": "0",
            "batch_size": "64",
            "learning_rate": "0.001",
            "channels": "16",
            "dropout": "0.1",
            "validation_fraction": "0.2",
            "clients": "4",
            "local_epochs": "1",
            "seed": "0",
            "checkpoint_every": "0",
            "mode": "centralized",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "epochs" in errors
    assert "greater than or equal to 1" in errors["epochs"][0]
    assert not Run.objects.exists()


def test_new_run_form_queues_a_run(client, owner):
    client.force_login(owner)
    form = client.get("/runs/new/?trainer=digits").context["form"]
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    data.update({"trainer": "digits", "epochs": "3", "name": "first try"})
    response = client.post("/runs/new/?trainer=digits", data)
    run = Run.objects.get()
    assert response.status_code == 302
    assert response.url == f"/runs/{run.pk}/"
    assert (run.name, run.config["epochs"], run.owner) == ("first try", 3, owner)


def test_run_page_shows_status_to_owner_and_404_to_outsider(client, owner, outsider, staff):
    run = Run.objects.create(owner=owner, trainer="digits", config={}, name="mine")
    client.force_login(owner)
    page = client.get(f"/runs/{run.pk}/")
    assert page.status_code == 200
    assert b"mine" in page.content and b"queued" in page.content
    client.force_login(outsider)
    assert client.get(f"/runs/{run.pk}/").status_code == 404
    assert client.post(f"/runs/{run.pk}/command/", {"kind": "cancel"}).status_code == 404
    assert b"mine" not in client.get("/runs/").content
    run.refresh_from_db()
    assert run.status == "queued"
    client.force_login(staff)
    assert client.get(f"/runs/{run.pk}/").status_code == 200


def test_admin_lists_runs_for_staff_only(client, owner):
    from django.contrib.auth import get_user_model

    Run.objects.create(owner=owner, trainer="digits", config={}, name="listed")
    admin = get_user_model().objects.create_superuser("ada", password="x-very-long-password")
    client.force_login(admin)
    page = client.get("/admin/runs/run/?status__exact=queued")
    assert page.status_code == 200
    assert b"listed" in page.content
    client.force_login(owner)
    assert client.get("/admin/runs/run/").status_code == 302  # to the admin login


def test_shogi_run_page_offers_sampling_and_serves_game_records(client, owner, outsider):
    from runs.models import GameRecord, RunStatus

    run = Run.objects.create(owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.RUNNING)
    record = GameRecord.objects.create(
        run=run,
        source="sample",
        black="shogi-ppo",
        white="random",
        result="black_win",
        reason="checkmate",
        plies=1,
        start_sfen="startpos",
        moves=["7g7f"],
        kif="KIF TEXT",
        csa="CSA TEXT",
    )
    client.force_login(owner)
    page = client.get(f"/runs/{run.pk}/")
    assert b"Sample one game" in page.content and b'id="live-board"' in page.content
    kif = client.get(f"/runs/{run.pk}/games/{record.pk}.kif")
    assert kif.status_code == 200 and kif.content == b"KIF TEXT"
    assert client.get(f"/runs/{run.pk}/games/{record.pk}.csa").content == b"CSA TEXT"
    assert client.get(f"/runs/{run.pk}/games/{record.pk}.pdf").status_code == 404
    bad = client.post(
        f"/runs/{run.pk}/command/", {"kind": "evaluate", "games": "many"}, follow=True
    )
    assert b"games: must be a whole number" in bad.content
    client.force_login(outsider)
    assert client.get(f"/runs/{run.pk}/games/{record.pk}.kif").status_code == 404


def test_the_artifacts_fragment_is_the_run_pages_tables_for_its_viewers_only(
    client, owner, outsider
):
    from runs.models import Checkpoint, GameRecord

    run = Run.objects.create(owner=owner, trainer="shogi-ppo", config={})
    url = f"/runs/{run.pk}/artifacts/"
    client.force_login(owner)
    empty = client.get(url)
    assert empty.status_code == 200 and b"No checkpoints yet." in empty.content
    Checkpoint.objects.create(run=run, step=64, kind="final", size=1, sha256="ab" * 32)
    GameRecord.objects.create(
        run=run,
        source="league",
        black="league entry 1",
        white="league entry 2",
        result="draw",
        plies=0,
        start_sfen="startpos",
    )
    fragment = client.get(url).content.decode()
    assert 'id="run-artifacts"' in fragment and "<html" not in fragment
    assert "final" in fragment and "league entry 1" in fragment and "League" in fragment
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_the_runs_table_fragment_lists_only_the_users_runs(client, owner, outsider):
    mine = Run.objects.create(owner=owner, trainer="digits", config={}, name="mine")
    Run.objects.create(owner=outsider, trainer="digits", config={}, name="theirs")
    client.force_login(owner)
    fragment = client.get("/runs/table/").content.decode()
    assert f'data-run="{mine.pk}"' in fragment and "mine" in fragment
    assert "theirs" not in fragment and "<html" not in fragment
    client.logout()
    assert client.get("/runs/table/").status_code == 302  # to the login page
