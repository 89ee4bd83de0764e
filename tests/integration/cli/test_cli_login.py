"""``keisei login`` trades a password for a token kept in a private file; ``logout`` revokes it."""

from __future__ import annotations

import json
import stat

import pytest

from keisei_client.exits import Exit
from tests.conftest import PASSWORD
from tests.support.cli import keisei

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_stores_a_private_token_and_logout_revokes_it(daphne_server, owner, tmp_path):
    logged_in = keisei(
        "login",
        daphne_server,
        "--username",
        "olivia",
        home=tmp_path,
        extra={"KEISEI_PASSWORD": PASSWORD},
    )
    assert logged_in.returncode == Exit.OK, logged_in.stderr
    config = tmp_path / "keisei" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    stored = json.loads(config.read_text())
    assert stored["url"] == daphne_server and stored["token"]
    assert stored["token"] not in logged_in.stdout + logged_in.stderr  # shown to nobody

    # The stored address and token serve every later command, with no environment.
    tokens = json.loads(keisei("tokens", "--json", home=tmp_path).stdout)
    assert [t["name"] for t in tokens] == [f"keisei cli on {__import__('socket').gethostname()}"]
    assert stored["token"].startswith(tokens[0]["prefix"])
    assert keisei("runs", home=tmp_path).returncode == Exit.OK
    me = json.loads(keisei("me", "--json", home=tmp_path).stdout)
    assert me["username"] == "olivia"
    assert me["usage"] == {"running": 0, "queued": 0, "storage_bytes": 0}

    # Another token of hers, revoked by its id: the one in use goes on working.
    other = keisei("login", daphne_server, "--username", "olivia", "--token-name", "old laptop",
                   home=tmp_path / "laptop", extra={"KEISEI_PASSWORD": PASSWORD})  # fmt: skip
    assert other.returncode == Exit.OK, other.stderr
    listed = json.loads(keisei("tokens", "--json", home=tmp_path).stdout)
    laptop = next(t for t in listed if t["name"] == "old laptop")
    revoked_one = keisei("tokens", "revoke", str(laptop["id"]), home=tmp_path)
    assert revoked_one.returncode == Exit.OK, revoked_one.stderr
    assert keisei("runs", home=tmp_path / "laptop").returncode == Exit.NOT_AUTHENTICATED
    assert keisei("runs", home=tmp_path).returncode == Exit.OK

    logged_out = keisei("logout", home=tmp_path)
    assert logged_out.returncode == Exit.OK, logged_out.stderr
    assert "token revoked" in logged_out.stdout
    assert json.loads(config.read_text()) == {"url": daphne_server, "token": ""}
    revoked = keisei("runs", home=tmp_path, token=stored["token"])
    assert revoked.returncode == Exit.NOT_AUTHENTICATED
    assert "token_revoked" in revoked.stderr and "keisei login URL" in revoked.stderr
    assert keisei("runs", home=tmp_path).returncode == Exit.NOT_AUTHENTICATED


def test_a_wrong_password_is_refused_and_nothing_is_stored(daphne_server, owner, tmp_path):
    refused = keisei(
        "login",
        daphne_server,
        "--username",
        "olivia",
        home=tmp_path,
        extra={"KEISEI_PASSWORD": "wrong"},
    )
    assert refused.returncode == Exit.NOT_AUTHENTICATED
    assert refused.stderr.startswith("error: HTTP 401")
    assert not (tmp_path / "keisei" / "config.json").exists()
