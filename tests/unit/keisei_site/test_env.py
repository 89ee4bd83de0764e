"""Settings helpers: every error names the variable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from keisei_site import env


def test_socket_database_url_becomes_a_host_directory(monkeypatch):
    monkeypatch.setenv("TEST_DB", "postgresql://postgres:@/keisei?host=/srv/pg")
    db = env.database("TEST_DB")
    assert (db["NAME"], db["HOST"], db["USER"], db["OPTIONS"]) == (
        "keisei",
        "/srv/pg",
        "postgres",
        {},
    )


def test_tcp_database_url(monkeypatch):
    monkeypatch.setenv("TEST_DB", "postgres://u:p%40ss@db.internal:6432/site?sslmode=require")
    db = env.database("TEST_DB")
    assert (db["HOST"], db["PORT"], db["PASSWORD"], db["OPTIONS"]) == (
        "db.internal",
        "6432",
        "p@ss",
        {"sslmode": "require"},
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mysql://x/y", "TEST_DB must be a postgres:// URL"),
        ("postgres://host:5432/", "TEST_DB names no database"),
    ],
)
def test_bad_database_url_names_the_variable(monkeypatch, value, message):
    monkeypatch.setenv("TEST_DB", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        env.database("TEST_DB")


def test_missing_required_variable_is_named(monkeypatch):
    monkeypatch.delenv("NOPE_URL", raising=False)
    with pytest.raises(ImproperlyConfigured, match="NOPE_URL is not set"):
        env.redis_url("NOPE_URL")


def test_boolean_and_integer_errors_name_the_variable(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be a boolean"):
        env.boolean("FLAG", False)
    monkeypatch.setenv("COUNT", "7")
    with pytest.raises(ImproperlyConfigured, match="COUNT must be between 10 and 20"):
        env.integer("COUNT", 15, minimum=10, maximum=20)


def test_number_is_parsed_and_bounded_with_the_variable_named(monkeypatch):
    monkeypatch.setenv("EVERY", "0.25")
    assert env.number("EVERY", 1.0, minimum=0.05, maximum=10) == 0.25
    monkeypatch.delenv("EVERY")
    assert env.number("EVERY", 1.0, minimum=0.05, maximum=10) == 1.0
    for raw, reason in (("fast", "a number"), ("0", "between"), ("nan", "between")):
        monkeypatch.setenv("EVERY", raw)
        with pytest.raises(ImproperlyConfigured, match=f"EVERY must be {reason}"):
            env.number("EVERY", 1.0, minimum=0.05, maximum=10)


def test_unix_redis_url_is_spelled_for_celery():
    assert env.celery_broker_url("unix:///v/redis.sock?db=0") == "redis+socket:///v/redis.sock?db=0"
    assert env.celery_broker_url("redis://h:6379/1") == "redis://h:6379/1"


def test_settings_refuse_to_start_without_a_secret_key(tmp_path):
    import os
    import subprocess
    import sys

    child_env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    # No running launcher's embedded.env to read a key from either.
    child_env["KEISEI_VAR_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr
