"""The stored address and token: where they live, who may read them, where the token goes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from keisei_client import credentials
from keisei_client.credentials import Credentials


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("KEISEI_URL", raising=False)
    monkeypatch.delenv("KEISEI_TOKEN", raising=False)
    return tmp_path


def test_the_config_file_is_private_from_the_moment_it_exists(config_home, monkeypatch):
    # With no umask to mask them, a file created with the usual 0666 would be world-readable;
    # a chmod afterwards would leave a moment when it is: both are forbidden here.
    def no_chmod(*args, **kwargs):
        raise AssertionError("the token file must be created private, not chmod'ed after")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    old = os.umask(0)
    try:
        path = credentials.store(Credentials(url="http://127.0.0.1:8000", token="secret"))
    finally:
        os.umask(old)
    assert path == config_home / "keisei" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"url": "http://127.0.0.1:8000", "token": "secret"}


def test_rewriting_keeps_the_file_private_and_leaves_no_temporary_file(config_home):
    path = credentials.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    path.chmod(0o644)  # an old file others could read: it is replaced, not written into
    credentials.store(Credentials(url="http://a", token="t"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]


def test_without_xdg_config_home_the_file_is_under_dot_config(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert credentials.config_path() == tmp_path / ".config" / "keisei" / "config.json"


def test_environment_overrides_the_file(config_home, monkeypatch):
    credentials.store(Credentials(url="http://127.0.0.1:8000", token="stored"))
    assert credentials.resolve(None) == Credentials("http://127.0.0.1:8000", "stored")
    monkeypatch.setenv("KEISEI_TOKEN", "from-env")
    assert credentials.resolve(None).token == "from-env"
    monkeypatch.setenv("KEISEI_URL", "http://127.0.0.1:9000/")
    assert credentials.resolve(None) == Credentials("http://127.0.0.1:9000", "from-env")
    assert credentials.resolve("http://127.0.0.1:7000").url == "http://127.0.0.1:7000"


def test_the_stored_token_goes_only_to_the_portal_it_was_made_for(config_home):
    credentials.store(Credentials(url="http://127.0.0.1:8000", token="stored"))
    assert credentials.resolve("http://127.0.0.1:8000/").token == "stored"
    assert credentials.resolve("http://elsewhere.example:8000").token == ""


def test_logout_forgets_the_token_but_keeps_the_address(config_home):
    credentials.store(Credentials(url="http://127.0.0.1:8000", token="stored"))
    credentials.forget_token()
    assert credentials.stored() == Credentials("http://127.0.0.1:8000", "")


def test_a_bare_host_is_http_and_other_schemes_are_refused():
    assert credentials.normalised_url("127.0.0.1:8000/") == "http://127.0.0.1:8000"
    with pytest.raises(credentials.ClientError, match="http:// or https://"):
        credentials.normalised_url("ftp://host")
