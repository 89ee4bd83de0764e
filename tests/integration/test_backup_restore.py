"""The backup and restore of docs/deploy.md, tried for real: pg_dump of the database a run lives
in, pg_restore into a new empty database, and the run, its metric points, its timeline and its
checkpoint (the file from a tar of the artifact store, checked by its sha256) all come back."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from monitoring.models import EventType
from monitoring.services import event_record, metrics_record
from runs.models import Checkpoint, CheckpointKind, Run, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump sees committed rows only


def postgres_tool(name: str) -> str:
    """The server's own client tools (a dump is read by the same major version)."""
    opts = Path(os.environ.get("KEISEI_VAR_DIR", "")) / "pgdata" / "postmaster.opts"
    if opts.exists():
        return str(Path(shlex.split(opts.read_text())[0]).parent / name)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"no {name} for the PostgreSQL under test")
    return found


def libpq_env() -> dict[str, str]:
    """The test database's connection as libpq's environment (PGHOST may be a socket dir)."""
    params = connection.settings_dict
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for var, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER")):
        if params[key]:
            env[var] = str(params[key])
    if params["PASSWORD"]:
        env["PGPASSWORD"] = str(params["PASSWORD"])
    return env


def run_tool(*args: str) -> None:
    done = subprocess.run(
        list(args), env=libpq_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{args[0]}: {done.stderr}"


@pytest.fixture
def restored_database() -> Iterator[str]:
    """The name of a new, empty database, dropped at the end."""
    name = f"keisei_restore_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def a_run_with_history(owner) -> tuple[Run, Checkpoint, bytes]:
    run = Run.objects.create(
        owner=owner, trainer="digits", config={}, status=RunStatus.COMPLETED, attempts=1
    )
    now = timezone.now()
    metrics_record(
        run_id=run.pk,
        points=[("losses/policy_loss", step, 1 / step, now) for step in range(1, 1001)],
    )
    event_record(run_id=run.pk, type=EventType.LOG, message="before the backup")
    content = os.urandom(4096)
    name = default_storage.save(f"checkpoints/{run.pk}/backup-test.pt", ContentFile(content))
    checkpoint = Checkpoint.objects.create(
        run=run,
        step=1000,
        kind=CheckpointKind.FINAL,
        file=name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )
    return run, checkpoint, content


def test_a_run_survives_pg_dump_and_pg_restore(owner, restored_database, tmp_path):
    run, checkpoint, content = a_run_with_history(owner)
    dump = tmp_path / "keisei.dump"
    database = connection.settings_dict["NAME"]
    # The commands of docs/deploy.md ("Backups"), on the test database.
    run_tool(postgres_tool("pg_dump"), "--format=custom", f"--file={dump}", database)
    media = Path(default_storage.path(""))
    archive = tmp_path / "artifacts.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(media / checkpoint.file.name, arcname=checkpoint.file.name)
    default_storage.delete(checkpoint.file.name)  # the store is lost too

    run_tool(
        postgres_tool("pg_restore"),
        "--exit-on-error",
        "--no-owner",
        f"--dbname={restored_database}",
        str(dump),
    )
    restored = tmp_path / "media"
    with tarfile.open(archive) as tar:
        tar.extractall(restored, filter="data")

    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params["dbname"] = restored_database
    with psycopg.connect(**params) as restored_db:
        row = restored_db.execute(
            "SELECT status, owner_id FROM runs_run WHERE id = %s", [run.pk]
        ).fetchone()
        points = restored_db.execute(
            "SELECT count(*), min(step), max(step) FROM monitoring_metricpoint WHERE run_id = %s",
            [run.pk],
        ).fetchone()
        events = restored_db.execute(
            "SELECT type, message FROM monitoring_runevent WHERE run_id = %s",
            [run.pk],
        ).fetchall()
        stored = restored_db.execute(
            "SELECT file, sha256 FROM runs_checkpoint WHERE run_id = %s", [run.pk]
        ).fetchone()
        migrations = restored_db.execute("SELECT count(*) FROM django_migrations").fetchone()

    assert row == (RunStatus.COMPLETED, owner.pk)
    assert points == (1000, 1, 1000)
    assert (EventType.LOG, "before the backup") in events
    assert stored == (checkpoint.file.name, checkpoint.sha256)
    assert migrations is not None and migrations[0] > 0
    file = (restored / stored[0]).read_bytes()
    assert file == content and hashlib.sha256(file).hexdigest() == stored[1]
