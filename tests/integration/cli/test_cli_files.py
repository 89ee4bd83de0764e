"""``keisei download``, ``games``, ``game`` and ``compare`` against a real portal."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest

from keisei_client.exits import Exit
from tests.support.cli import keisei
from tests.support.runs import wait_run_finished
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trained(daphne_server, celery_worker, owner):
    """A completed digits run of the owner's, with its final checkpoint."""
    from runs import services

    run = services.run_queue(owner=owner, trainer="digits", config={"epochs": 2, "batch_size": 16})
    return wait_run_finished(run, timeout=180, what="the digits run to complete")


def test_download_writes_the_checkpoint_and_checks_its_sha256(
    daphne_server, trained, owner, tmp_path
):
    checkpoint = trained.checkpoints.order_by("-step").first()
    token = api_token(owner)
    target = tmp_path / "model.pt"
    done = keisei(
        "download",
        str(trained.pk),
        "-o",
        str(target),
        home=tmp_path,
        url=daphne_server,
        token=token,
    )
    assert done.returncode == Exit.OK, done.stderr
    assert hashlib.sha256(target.read_bytes()).hexdigest() == checkpoint.sha256
    assert f"sha256 {checkpoint.sha256} checked" in done.stdout

    # The stored file goes bad: the bytes no longer match the listing's hash.
    with checkpoint.file.storage.open(checkpoint.file.name, "wb") as fh:
        fh.write(b"not the checkpoint")
    bad = tmp_path / "bad.pt"
    refused = keisei(
        "download", str(trained.pk), "--checkpoint", str(checkpoint.pk), "-o", str(bad),
        home=tmp_path, url=daphne_server, token=token,
    )  # fmt: skip
    assert refused.returncode == Exit.FAILED
    assert f"expected sha256 {checkpoint.sha256}" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".pt", ".part")) == [
        "model.pt"
    ]

    missing = keisei(
        "download",
        str(trained.pk),
        "--checkpoint",
        "999999",
        home=tmp_path,
        url=daphne_server,
        token=token,
    )
    assert missing.returncode == Exit.NOT_FOUND and "has no checkpoint 999999" in missing.stderr


def test_compare_shows_each_runs_last_value_as_a_table_or_csv(
    daphne_server, trained, owner, tmp_path
):
    from monitoring.models import MetricPoint

    key = "losses/train_loss"
    last = MetricPoint.objects.filter(run=trained, key=key).order_by("-step").first()
    token = api_token(owner)
    as_csv = keisei(
        "compare",
        str(trained.pk),
        "--key",
        key,
        "--csv",
        home=tmp_path,
        url=daphne_server,
        token=token,
    )
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(int(r["run"]), int(r["last_step"]), float(r["last"])) for r in rows] == [
        (trained.pk, last.step, last.value)
    ]
    table = keisei(
        "compare", str(trained.pk), "--key", key, home=tmp_path, url=daphne_server, token=token
    )
    assert table.returncode == 0 and key in table.stdout and str(last.step) in table.stdout


def test_games_are_listed_and_printed_as_kif_csa_or_usi(daphne_server, owner, outsider, tmp_path):
    from runs import services
    from runs.models import GameSource, Run, RunStatus

    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.COMPLETED
    )
    record = services.game_record_store(
        run_id=run.pk,
        record={
            "black": "agent",
            "white": "random",
            "moves": ["7g7f", "3c3d"],
            "kif": "KIF text",
            "csa": "CSA text",
        },
        source=GameSource.SAMPLE,
    )
    token = api_token(owner)
    listed = keisei(
        "games",
        str(run.pk),
        "--source",
        "sample",
        "--json",
        home=tmp_path,
        url=daphne_server,
        token=token,
    )
    assert listed.returncode == 0, listed.stderr
    assert [g["id"] for g in json.loads(listed.stdout)] == [record.pk]
    table = keisei("games", str(run.pk), home=tmp_path, url=daphne_server, token=token)
    assert table.returncode == 0 and "sample" in table.stdout and "random" in table.stdout
    for fmt, text in (
        ("kif", "KIF text\n"),
        ("csa", "CSA text\n"),
        ("usi", "position startpos moves 7g7f 3c3d\n"),
    ):
        shown = keisei(
            "game",
            str(run.pk),
            str(record.pk),
            "--format",
            fmt,
            home=tmp_path,
            url=daphne_server,
            token=token,
        )
        assert (shown.returncode, shown.stdout) == (0, text), shown.stderr
    bad = keisei(
        "games",
        str(run.pk),
        "--source",
        "tournament",
        home=tmp_path,
        url=daphne_server,
        token=token,
    )
    assert bad.returncode == Exit.USAGE and "tournament" in bad.stderr
    hidden = keisei(
        "game",
        str(run.pk),
        str(record.pk),
        home=tmp_path,
        url=daphne_server,
        token=api_token(outsider),
    )
    assert hidden.returncode == Exit.NOT_FOUND and "HTTP 404" in hidden.stderr


def test_save_waits_for_its_checkpoint_which_download_then_fetches(
    daphne_server, celery_worker, owner, tmp_path
):
    from runs import services
    from runs.models import RunStatus
    from tests.support.waiting import wait_for

    run = services.run_queue(owner=owner, trainer="digits", config={"epochs": 500, "batch_size": 8})
    token = api_token(owner)

    def cli(*args: str):
        return keisei(*args, home=tmp_path, url=daphne_server, token=token)

    wait_for(
        lambda: run.refresh_from_db() or run.status == RunStatus.RUNNING,
        timeout=120,
        what="the run to start",
    )
    saved = cli("save", str(run.pk), "--wait", "--json")
    assert saved.returncode == Exit.OK, saved.stderr
    assert json.loads(saved.stdout)["state"] == "done"
    manual = run.checkpoints.get(kind="manual")
    fetched = cli("download", str(run.pk), "--checkpoint", str(manual.pk), "-o", str(tmp_path))
    assert fetched.returncode == Exit.OK, fetched.stderr
    target = tmp_path / f"run{run.pk}-step{manual.step}.pt"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == manual.sha256
    stopped = cli("stop", str(run.pk), "--wait")
    assert stopped.returncode == Exit.OK and ", done" in stopped.stdout, stopped.stderr


def test_metrics_stream_as_csv_and_events_read_as_the_timeline(
    daphne_server, trained, owner, tmp_path
):
    from monitoring.models import MetricPoint, RunEvent

    token = api_token(owner)

    def cli(*args: str):
        return keisei(*args, home=tmp_path, url=daphne_server, token=token)

    key = "losses/train_loss"
    target = tmp_path / "loss.csv"
    saved = cli("metrics", str(trained.pk), "--keys", key, "-o", str(target))
    assert saved.returncode == Exit.OK, saved.stderr
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    stored = MetricPoint.objects.filter(run=trained, key=key).order_by("step")
    assert [(r["key"], int(r["step"]), float(r["value"])) for r in rows] == [
        (key, p.step, p.value) for p in stored
    ]
    printed = cli("metrics", str(trained.pk), "--keys", key)
    assert printed.stdout == target.read_text()
    series = json.loads(cli("metrics", str(trained.pk), "--keys", key, "--json").stdout)
    assert series["series"][key]["step"] == [p.step for p in stored]

    seqs = list(RunEvent.objects.filter(run=trained).order_by("seq").values_list("seq", flat=True))
    page = json.loads(cli("events", str(trained.pk), "--json").stdout)
    assert [e["seq"] for e in page["results"]] == seqs and page["last_seq"] == seqs[-1]
    later = json.loads(cli("events", str(trained.pk), "--after", str(seqs[1]), "--json").stdout)
    assert [e["seq"] for e in later["results"]] == seqs[2:]
    table = cli("events", str(trained.pk))
    assert table.returncode == Exit.OK and "run completed" in table.stdout
