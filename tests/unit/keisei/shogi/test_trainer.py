"""Training end to end on a tiny config: resume equivalence, commands, live board."""

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from keisei.interfaces import CheckpointError, CommandRequest, RunOutcome
from keisei.shogi.trainer import ShogiPPOTrainer
from keisei.trainer import CommandError
from tests.unit.keisei.shogi.conftest import TINY


def deterministic(metrics):
    """Metrics that do not depend on wall time."""
    return [
        (step, {k: v for k, v in m.items() if not k.startswith("time/")}) for step, m in metrics
    ]


@pytest.fixture
def run(make_callbacks):
    def train(workdir, config, control=None, resume_from=None):
        callbacks = make_callbacks()
        trainer = ShogiPPOTrainer(config, workdir=workdir, callbacks=callbacks, control=control)
        outcome = trainer.train(resume_from=resume_from)
        return outcome, callbacks, trainer

    return train


@pytest.mark.parametrize("precision", ["fp32", "bf16"])  # bf16: CPU autocast, as presets use
@pytest.mark.parametrize("stop_at_poll", [20, 37])  # mid-rollout, and mid-update
def test_stopped_and_resumed_run_matches_an_unbroken_run(
    tmp_path, tiny_config, run, make_control, stop_at_poll, precision
):
    config = tiny_config(precision=precision)
    outcome, unbroken, _ = run(tmp_path / "a", config)
    assert outcome == RunOutcome.COMPLETED
    assert len(unbroken.metrics) == 5

    stop = make_control({stop_at_poll: [CommandRequest(id="s", kind="stop")]})
    outcome, first, _ = run(tmp_path / "b", config, control=stop)
    assert outcome == RunOutcome.STOPPED
    final = first.checkpoints[-1]
    assert final.kind == "final"
    done = len(first.metrics)
    assert 0 < done < 5 and final.step == first.metrics[-1][0]

    outcome, second, _ = run(tmp_path / "c", config, resume_from=final.path)
    assert outcome == RunOutcome.COMPLETED
    resumed = deterministic(first.metrics) + deterministic(second.metrics)
    assert resumed == deterministic(unbroken.metrics)


def test_metrics_use_the_documented_keys(tmp_path, tiny_config, run, make_control):
    _, callbacks, _ = run(tmp_path, tiny_config(total_steps=64))
    step, metrics = callbacks.metrics[-1]
    assert step == 64
    for key in [
        "losses/policy_loss",
        "losses/value_loss",
        "losses/entropy",
        "losses/approx_kl",
        "losses/clip_fraction",
        "losses/grad_norm",
        "charts/learning_rate",
        "charts/games_finished",
        "time/positions_per_s",
    ]:
        assert key in metrics and math.isfinite(metrics[key]), key
    assert callbacks.statuses[0] == "running"


def test_bad_command_params_fail_and_training_goes_on(tmp_path, tiny_config, run, make_control):
    control = make_control(
        {
            2: [
                CommandRequest(id="bad-sample", kind="sample", params={"temperature": -1}),
                CommandRequest(id="bad-eval", kind="evaluate", params={"games": "many"}),
                CommandRequest(id="bad-extra", kind="evaluate", params={"colour": "red"}),
                CommandRequest(id="bad-opponent", kind="evaluate", params={"opponent": "nope.pt"}),
            ]
        }
    )
    outcome, callbacks, _ = run(tmp_path, tiny_config(), control=control)
    assert outcome == RunOutcome.COMPLETED
    assert len(callbacks.metrics) == 5
    assert "temperature" in control.failed["bad-sample"]
    assert "games" in control.failed["bad-eval"]
    assert "colour" in control.failed["bad-extra"]
    assert "opponent" in control.failed["bad-opponent"]
    assert not control.completed


def test_sample_evaluate_and_backup_commands_answer(tmp_path, tiny_config, run, make_control):
    control = make_control(
        {
            3: [
                CommandRequest(id="sample", kind="sample", params={"max_plies": 30, "seed": 1}),
                CommandRequest(id="eval", kind="evaluate", params={"games": 4, "max_plies": 20}),
                CommandRequest(id="backup", kind="backup"),
            ]
        }
    )
    outcome, callbacks, trainer = run(tmp_path, tiny_config(), control=control)
    assert outcome == RunOutcome.COMPLETED
    record = control.completed["sample"]
    assert record["plies"] == len(record["moves"]) <= 30
    assert record["kif"] and record["csa"].startswith("V3.0")
    assert any(kind == "sample" for kind, _, _ in callbacks.events)
    evaluation = control.completed["eval"]
    assert evaluation["wins"] + evaluation["draws"] + evaluation["losses"] == 4
    assert math.isfinite(evaluation["elo_low"]) and math.isfinite(evaluation["elo_high"])
    backup = [c for c in callbacks.checkpoints if c.kind == "backup"]
    assert len(backup) == 1 and backup[0].path.exists()
    # A checkpoint file works as an evaluation opponent too.
    result = trainer.evaluate_against(str(backup[0].path), 2, 0.5, 10, 3)
    assert result["games"] == 2


def test_live_board_is_offered_every_ply_for_the_reporter_to_throttle(tmp_path, tiny_config, run):
    # Two updates of eight plies: the trainer does not throttle (the site's reporter does).
    _, callbacks, _ = run(tmp_path, tiny_config(spectate=True, total_steps=4 * 8 * 2))
    assert len(callbacks.boards) == 16
    plies = [snapshot["ply"] for _, snapshot in callbacks.boards]
    assert plies[:8] == list(range(1, 9))  # game 0, one move further each time
    snapshot = callbacks.boards[-1][1]
    assert set(snapshot) == {
        "sfen",
        "last_move",
        "moves",
        "ply",
        "side_to_move",
        "in_check",
        "game",
    }
    assert snapshot["side_to_move"] in ("black", "white")


def test_no_board_is_built_without_spectate(tmp_path, tiny_config, run):
    _, callbacks, _ = run(tmp_path, tiny_config(spectate=False, total_steps=4 * 8))
    assert callbacks.boards == []


def test_periodic_evaluation_reports_win_rate_against_random(tmp_path, tiny_config, run):
    _, callbacks, _ = run(tmp_path, tiny_config(total_steps=64, eval_every=1, eval_games=4))
    for _, metrics in callbacks.metrics:
        assert 0.0 <= metrics["charts/win_rate_vs_random"] <= 1.0
        assert math.isfinite(metrics["charts/elo_vs_random"])
    evaluations = [data for kind, _, data in callbacks.events if kind == "evaluation"]
    assert len(evaluations) == 2
    assert all(e["wins"] + e["draws"] + e["losses"] == 4 for e in evaluations)


def test_latest_checkpoint_is_an_evaluation_opponent(tmp_path, tiny_config, run):
    _, _, trainer = run(tmp_path, tiny_config(total_steps=32))
    result = trainer.evaluate_against("latest", 2, 0.5, 10, 5)
    assert result["games"] == 2 and result["opponent"] == "latest"


@pytest.mark.parametrize("kind", ["evaluate", "sample"])
def test_an_opponent_file_without_a_model_fails_the_command_naming_the_opponent(
    tmp_path, tiny_config, run, kind
):
    _, _, trainer = run(tmp_path, tiny_config(total_steps=32))
    state = torch.load(trainer.save_checkpoint("manual").path, weights_only=True)
    del state["model"]
    torch.save(state, tmp_path / "no-model.pt")
    # A relative opponent path is read from the run's workdir.
    command = CommandRequest(id="c", kind=kind, params={"opponent": "no-model.pt", "seed": 1})
    with pytest.raises(CommandError, match="^opponent: .*no-model.pt.*'model'"):
        trainer.handle_command(command)


class MinibatchClock:
    """A ``Control`` that notes, at every poll, how many gradient steps the optimizer has taken,
    and asks for a save and a pause at the first poll inside the first update (one minibatch
    done, more to come), then a resume; the answers are noted the same way."""

    def __init__(self) -> None:
        self.trainer: ShogiPPOTrainer | None = None
        self.polls: list[int] = []
        self.answers: list[tuple[str, str, int]] = []
        self.metrics_at: list[int] = []
        self.asked = False

    def steps(self) -> int:
        state = self.trainer.optimizer.state
        return int(next(iter(state.values()))["step"]) if state else 0

    def poll(self):
        steps = self.steps()
        self.polls.append(steps)
        if steps == 1 and not self.asked:
            self.asked = True
            return [CommandRequest(id="save", kind="save"), CommandRequest(id="p", kind="pause")]
        if self.asked and any(a[0] == "p" for a in self.answers) and len(self.answers) < 6:
            return [CommandRequest(id="r", kind="resume")]
        return []

    def acknowledge(self, command):
        self.answers.append((command.id, "ack", self.steps()))

    def complete(self, command, result=None):
        self.answers.append((command.id, "done", self.steps()))

    def fail(self, command, error):
        raise AssertionError(f"{command.kind} failed: {error}")


def test_commands_are_answered_between_minibatches_without_changing_the_run(
    tmp_path, tiny_config, run, make_callbacks
):
    config = tiny_config()  # 2 passes of 2 minibatches: 4 gradient steps an update
    _, unbroken, _ = run(tmp_path / "a", config)

    clock = MinibatchClock()
    callbacks = make_callbacks()
    trainer = ShogiPPOTrainer(config, workdir=tmp_path / "b", callbacks=callbacks, control=clock)
    clock.trainer = trainer
    trainer.train()
    # Polled before every minibatch: after 0, 1, 2 and 3 gradient steps of the first update.
    assert {0, 1, 2, 3} <= set(clock.polls)
    # Save, pause and resume were each acknowledged and done after one gradient step of the
    # four, i.e. inside the update, not at its end.
    assert [(who, what) for who, what, _ in clock.answers] == [
        ("save", "ack"),
        ("save", "done"),
        ("p", "ack"),
        ("p", "done"),
        ("r", "ack"),
        ("r", "done"),
    ]
    assert {steps for _, _, steps in clock.answers} == {1}
    assert callbacks.statuses == ["running", "paused", "running"]
    # The save mid-update wrote the last boundary (the start), and the run is unchanged.
    assert [(c.kind, c.step) for c in callbacks.checkpoints][0] == ("manual", 0)
    assert deterministic(callbacks.metrics) == deterministic(unbroken.metrics)


def test_a_killed_run_resumes_from_its_last_checkpoint_exactly(tmp_path, tiny_config, run):
    """SIGKILL a headless training process after its second periodic checkpoint (no graceful
    stop: whatever it was doing is lost); resuming from the newest checkpoint file on disk
    reproduces the unbroken run's metrics from that checkpoint on."""
    fields = {**TINY, "total_steps": 4 * 8 * 12, "checkpoint_every": 1}
    config = tiny_config(**fields)
    _, unbroken, _ = run(tmp_path / "unbroken", config)
    assert len(unbroken.metrics) == 12

    toml = tmp_path / "tiny.toml"
    toml.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in fields.items()))
    workdir = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "keisei", "train", "--trainer", "shogi-ppo", "--json"]
        + ["--config", str(toml), "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    killed_metrics = []
    try:
        for line in process.stdout:
            message = json.loads(line) if line.startswith("{") else {}
            if message.get("type") == "metrics":
                killed_metrics.append((message["step"], message["metrics"]))
            if message.get("type") == "checkpoint" and message["step"] == 2 * 32:
                process.send_signal(signal.SIGKILL)  # mid-run, with no chance to save
                break
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    files = sorted((workdir / "checkpoints").glob("shogi-ppo-*.pt"))
    assert files and not any("final" in f.name for f in files)
    last = files[-1]
    resumed_from = int(last.name.split("-")[2])
    assert resumed_from >= 2 * 32

    _, resumed, _ = run(tmp_path / "resumed", config, resume_from=last)
    after = [(s, m) for s, m in deterministic(unbroken.metrics) if s > resumed_from]
    assert deterministic(resumed.metrics) == after and after
    # The killed process trained the same trajectory up to its checkpoint (another process).
    upto = [(s, m) for s, m in deterministic(unbroken.metrics) if s <= 2 * 32]
    assert deterministic(killed_metrics)[: len(upto)] == upto


def test_a_run_against_fixed_players_reports_them_and_resumes_exactly(
    tmp_path, tiny_config, run, make_control
):
    """Half the games against the random mover and the greedy player: their win rates are
    charted, their games recorded under their names, and a stop and resume changes nothing
    (their generators travel in the checkpoint)."""
    config = tiny_config(
        train_vs_random=0.25, train_vs_greedy=0.25, max_plies=12, record_selfplay_every=1
    )
    outcome, unbroken, _ = run(tmp_path / "a", config)
    assert outcome == RunOutcome.COMPLETED
    charted = {k for _, m in unbroken.metrics for k in m}
    assert {"charts/training_win_rate_vs_random", "charts/training_win_rate_vs_greedy"} <= charted
    names = {(d["black"], d["white"]) for kind, _, d in unbroken.events if kind == "selfplay"}
    assert {("learner", "greedy"), ("greedy", "learner"), ("self-play", "self-play")} <= names

    stop = make_control({20: [CommandRequest(id="s", kind="stop")]})
    _, first, _ = run(tmp_path / "b", config, control=stop)
    _, second, _ = run(tmp_path / "c", config, resume_from=first.checkpoints[-1].path)
    resumed = deterministic(first.metrics) + deterministic(second.metrics)
    assert resumed == deterministic(unbroken.metrics)


@pytest.mark.parametrize("stop_at_poll", [20, 55])  # before the players come in, and after
def test_fixed_players_come_in_at_their_step_and_a_resume_keeps_the_schedule(
    tmp_path, tiny_config, run, make_control, stop_at_poll
):
    """Two self-play updates (64 positions), then half the games pass to the random mover as
    their games end (6 plies at most)."""
    config = tiny_config(train_vs_random=0.5, train_vs_from_step=64, max_plies=6)
    outcome, unbroken, _ = run(tmp_path / "a", config)
    assert outcome == RunOutcome.COMPLETED
    against = [step for step, m in unbroken.metrics if "charts/training_win_rate_vs_random" in m]
    assert against and min(against) > 64
    brought_in = [m for kind, m, _ in unbroken.events if "fixed players brought in" in m]
    assert brought_in == [
        "fixed players brought in at step 64: each of their games passes "
        "to them when its self-play game ends"
    ]

    stop = make_control({stop_at_poll: [CommandRequest(id="s", kind="stop")]})
    _, first, _ = run(tmp_path / "b", config, control=stop)
    _, second, _ = run(tmp_path / "c", config, resume_from=first.checkpoints[-1].path)
    resumed = deterministic(first.metrics) + deterministic(second.metrics)
    assert resumed == deterministic(unbroken.metrics)
    logs = [m for kind, m, _ in first.events + second.events if "fixed players brought" in m]
    assert len(logs) == 1


def test_a_step_for_fixed_players_without_any_brings_nothing_in(tmp_path, tiny_config, run):
    _, callbacks, _ = run(tmp_path, tiny_config(train_vs_from_step=32))
    assert not [m for kind, m, _ in callbacks.events if "fixed players brought" in m]


@pytest.mark.parametrize("stop_at_poll", [20, 55])
def test_a_run_against_past_selves_keeps_its_pool_and_resumes_exactly(
    tmp_path, tiny_config, run, make_control, stop_at_poll
):
    """Half the games against past selves (a pool of two, one joining after every update):
    their win rate is charted, their games recorded as "past", the pool holds the newest
    weights, and a stop and resume changes nothing (the pool travels in the checkpoint)."""
    config = tiny_config(
        train_vs_past=0.5, past_every=1, past_pool_size=2, max_plies=12, record_selfplay_every=1
    )
    outcome, unbroken, trainer = run(tmp_path / "a", config)
    assert outcome == RunOutcome.COMPLETED
    assert any("charts/training_win_rate_vs_past" in m for _, m in unbroken.metrics)
    names = {(d["black"], d["white"]) for kind, _, d in unbroken.events if kind == "selfplay"}
    assert {("learner", "past"), ("past", "learner")} <= names
    assert len(trainer.past.pool) == 2
    final = trainer.model.state_dict()
    assert all(torch.equal(trainer.past.pool[-1][k], final[k]) for k in final)

    stop = make_control({stop_at_poll: [CommandRequest(id="s", kind="stop")]})
    _, first, _ = run(tmp_path / "b", config, control=stop)
    assert 0 < len(first.metrics) < 5
    _, second, _ = run(tmp_path / "c", config, resume_from=first.checkpoints[-1].path)
    resumed = deterministic(first.metrics) + deterministic(second.metrics)
    assert resumed == deterministic(unbroken.metrics)


def test_a_checkpoint_without_a_usable_pool_is_refused_for_a_run_against_past_selves(
    tmp_path, tiny_config, run
):
    config = tiny_config(train_vs_past=0.5, total_steps=32, checkpoint_every=1)
    _, callbacks, _ = run(tmp_path / "a", config)
    path = callbacks.checkpoints[-1].path
    state = torch.load(path, weights_only=True)
    state["past"]["pool"][0] = {"conv.weight": torch.zeros(1)}
    torch.save(state, tmp_path / "damaged.pt")
    trainer = ShogiPPOTrainer(config, workdir=tmp_path / "b", callbacks=callbacks)
    with pytest.raises(CheckpointError, match="no usable past selves: a past self does not fit"):
        trainer.load_checkpoint(tmp_path / "damaged.pt")

    state["past"] = {"pool": [], "drawn": -1}
    torch.save(state, tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="no usable past selves: .* holds 0 past selves"):
        trainer.load_checkpoint(tmp_path / "empty.pt")


def test_a_fork_that_brings_in_past_selves_starts_their_pool_with_its_checkpoint(
    tmp_path, tiny_config, run
):
    _, plain, _ = run(tmp_path / "a", tiny_config(total_steps=32, checkpoint_every=1))
    path = plain.checkpoints[-1].path
    config = tiny_config(train_vs_past=0.5, past_every=1)
    outcome, forked, trainer = run(tmp_path / "b", config, resume_from=path)
    assert outcome == RunOutcome.COMPLETED
    assert any("charts/training_win_rate_vs_past" in m for _, m in forked.metrics)
    weights = torch.load(path, weights_only=True)["model"]
    assert all(torch.equal(trainer.past.pool[0][k], weights[k]) for k in weights)


def test_the_entropy_bonus_follows_its_schedule_and_reaches_the_update(tmp_path, tiny_config, run):
    """From 0.05 to 0.01 over 64 positions (two updates of 32): charted at each update's start,
    and the update uses it (the losses part from a run with the bonus held at 0.05)."""
    _, constant, _ = run(tmp_path / "a", tiny_config(ent_coef=0.05))
    annealed_config = tiny_config(ent_coef=0.05, ent_coef_final=0.01, ent_anneal_steps=64)
    _, annealed, trainer = run(tmp_path / "b", annealed_config)
    charted = [m["charts/ent_coef"] for _, m in annealed.metrics]
    assert charted == pytest.approx([0.05, 0.03, 0.01, 0.01, 0.01])
    assert trainer.ent_coef(16) == pytest.approx(0.04)
    assert not any("charts/ent_coef" in m for _, m in constant.metrics)
    assert deterministic(annealed.metrics)[0][1]["losses/policy_loss"] == pytest.approx(
        deterministic(constant.metrics)[0][1]["losses/policy_loss"]
    )
    later = [m["losses/entropy"] for _, m in deterministic(annealed.metrics)[1:]]
    assert later != [m["losses/entropy"] for _, m in deterministic(constant.metrics)[1:]]
