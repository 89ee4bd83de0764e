"""A real shogi-ppo run queued and watched with ``keisei``, its self-play games read back as
KIF, CSA and USI (a tiny config: a few seconds on one core)."""

from __future__ import annotations

import json

import pytest

from keisei_client.exits import Exit
from tests.support.cli import keisei
from tests.support.shogi import TINY_SHOGI
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_shogi_runs_games_are_read_back_in_every_format(
    daphne_server, celery_worker, owner, tmp_path
):
    token = api_token(owner)

    def cli(*args: str):
        return keisei(*args, home=tmp_path, url=daphne_server, token=token)

    fields = [f"--set={key}={json.dumps(value)}" for key, value in TINY_SHOGI.items()]
    done = cli(
        "submit",
        "--trainer",
        "shogi-ppo",
        *fields,
        "--set",
        "record_selfplay_every=1",
        "--set",
        "total_steps=160",  # each of the 4 games reaches its 24 plies
        "--watch",
        "--json",
    )
    assert done.returncode == Exit.OK, done.stderr
    run_id = json.loads(done.stdout.splitlines()[0])["data"]["id"]

    listed = cli("games", str(run_id), "--source", "selfplay", "--json")
    assert listed.returncode == Exit.OK, listed.stderr
    games = json.loads(listed.stdout)
    assert games, "the run recorded its self-play games"
    game = games[0]
    record = json.loads(cli("game", str(run_id), str(game["id"]), "--json").stdout)
    assert "手合割" in record["kif"] and record["csa"].startswith("V")
    kif = cli("game", str(run_id), str(game["id"]))
    assert (kif.returncode, kif.stdout) == (Exit.OK, record["kif"])
    csa = cli("game", str(run_id), str(game["id"]), "--format", "csa")
    assert (csa.returncode, csa.stdout) == (Exit.OK, record["csa"])
    usi = cli("game", str(run_id), str(game["id"]), "--format", "usi")
    assert usi.stdout.split() == ["position", "startpos", "moves", *record["moves"]]
