"""A small shogi-ppo run on a real worker: the board goes live, a sampled game becomes a
record with KIF and CSA, an evaluation becomes a row, and opponents are checked."""

from __future__ import annotations

import cshogi
import pytest
from cshogi import CSA, KIF, move_to_usi

from monitoring import live
from runs import services
from runs.models import Command, Evaluation, GameRecord, Run, RunStatus
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SMALL = {
    "num_envs": 4,
    "num_steps": 8,
    "max_plies": 40,
    "blocks": 1,
    "channels": 8,
    "value_hidden": 8,
    "minibatch_size": 16,
    "total_steps": 4 * 8 * 100_000,  # far more than the test lets it run
    "precision": "fp32",
    "threads": 1,
    "spectate": True,
    "record_selfplay_every": 3,
    "seed": 3,
}


def wait_command(command: Command) -> Command:
    def finished():
        command.refresh_from_db()
        return command.state in ("done", "failed")

    wait_for(finished, timeout=120, what=f"the {command.kind} command to finish")
    return command


def test_shogi_run_samples_evaluates_and_shows_its_board(celery_worker, owner, outsider):
    from django.core.cache import cache

    run = services.run_queue(owner=owner, trainer="shogi-ppo", config=SMALL)

    def running_with_a_board():
        # Training, not only a board in the cache: the sample below is asked of a running run.
        run.refresh_from_db()
        return run.status == "running" and cache.get(live.board_cache_key(run.pk))

    board = wait_for(running_with_a_board, timeout=120, what="the run training, with a live board")
    assert cshogi.Board(board["sfen"]).is_ok()
    assert board["side_to_move"] in ("black", "white")

    sample = wait_command(
        services.command_request(
            run=run, user=owner, kind="sample", params={"opponent": "random", "temperature": 1.0}
        )
    )
    assert sample.state == "done", sample.error
    record = GameRecord.objects.get(run=run, source="sample")
    assert (record.pk, record.source, record.plies) == (
        sample.result.get("game_record", record.pk),
        "sample",
        len(record.moves),
    )
    replay = cshogi.Board(record.start_sfen)
    for usi in record.moves:
        move = replay.move_from_usi(usi)
        assert replay.is_legal(move), usi
        replay.push(move)
    assert [move_to_usi(m) for m in KIF.Parser.parse_str(record.kif).moves] == record.moves
    assert [move_to_usi(m) for m in CSA.Parser.parse_str(record.csa)[0].moves] == record.moves

    evaluation = wait_command(
        services.command_request(
            run=run, user=owner, kind="evaluate", params={"opponent": "random", "games": 4}
        )
    )
    assert evaluation.state == "done", evaluation.error
    row = Evaluation.objects.get(run=run)
    assert row.wins + row.draws + row.losses == row.games == 4
    assert row.opponent == "random"

    bad = wait_command(
        services.command_request(
            run=run, user=owner, kind="evaluate", params={"opponent": "random", "games": 1}
        )
    )
    assert bad.state == "failed" and "games" in bad.error  # refused with the field
    with pytest.raises(services.CommandRejected, match="params.opponent"):
        services.command_request(
            run=run, user=owner, kind="sample", params={"opponent": "/etc/passwd"}
        )

    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # bad commands never stop training
    # Recorded every third update: on a loaded machine the commands above can all be done
    # before the third update is.
    selfplay = wait_for(
        lambda: GameRecord.objects.filter(run=run, source="selfplay").first(),
        timeout=120,
        what="a recorded self-play game",
    )
    assert selfplay.plies == len(selfplay.moves) and selfplay.kif
    stop = wait_command(services.command_request(run=run, user=owner, kind="stop"))
    assert stop.state == "done"
    wait_for(
        lambda: Run.objects.get(pk=run.pk).status == RunStatus.STOPPED,
        timeout=120,
        what="the run to stop",
    )


def test_checkpoint_opponents_must_be_visible_to_the_asker(owner, outsider, tmp_path):
    from keisei.interfaces import CheckpointInfo

    theirs = Run.objects.create(owner=owner, trainer="shogi-ppo", config={})
    path = tmp_path / "ck.pt"
    path.write_bytes(b"x")
    checkpoint = services.checkpoint_record(
        run_id=theirs.pk, info=CheckpointInfo(path=path, step=1, kind="manual")
    )
    mine = Run.objects.create(
        owner=outsider, trainer="shogi-ppo", config={}, status=RunStatus.RUNNING
    )
    with pytest.raises(services.CommandRejected, match=f"no checkpoint {checkpoint.pk}"):
        services.command_request(
            run=mine,
            user=outsider,
            kind="evaluate",
            params={"opponent": f"checkpoint:{checkpoint.pk}"},
        )
    rejected = Command.objects.get(run=mine)
    assert rejected.state == "rejected" and "params.opponent" in rejected.error
