"""Writes of the run lifecycle. Pages, the API, the admin and tasks all call these."""

from runs.services.checkpoints import (
    checkpoint_fetch,
    checkpoint_record,
    checkpoint_to_resume,
    checkpoints_prune,
)
from runs.services.commands import (
    command_acknowledge,
    command_finish,
    command_request,
    commands_pending,
)
from runs.services.errors import CheckpointUnusable, CommandRejected, QuotaExceeded, RunConfigError
from runs.services.evaluations import (
    EvaluationRejected,
    evaluation_execute,
    evaluation_request,
    evaluations_reap_expired,
)
from runs.services.league import (
    elo_change,
    league_consider,
    league_enter,
    league_pairings,
    league_record_match,
    league_round,
    league_standings,
)
from runs.services.lifecycle import (
    config_validate,
    run_claim_next,
    run_clone,
    run_finish,
    run_fork,
    run_heartbeat,
    run_queue,
    run_record_progress,
    run_release,
    run_set_paused,
    runs_reap_expired,
    runs_wake_stranded,
    wake_worker,
)
from runs.services.presets import preset_config, preset_create
from runs.services.records import evaluation_store, game_record_store

__all__ = [
    "CheckpointUnusable",
    "CommandRejected",
    "EvaluationRejected",
    "QuotaExceeded",
    "RunConfigError",
    "checkpoint_fetch",
    "checkpoint_record",
    "checkpoint_to_resume",
    "checkpoints_prune",
    "command_acknowledge",
    "command_finish",
    "command_request",
    "commands_pending",
    "config_validate",
    "elo_change",
    "evaluation_execute",
    "evaluation_request",
    "evaluation_store",
    "evaluations_reap_expired",
    "game_record_store",
    "league_consider",
    "league_enter",
    "league_pairings",
    "league_record_match",
    "league_round",
    "league_standings",
    "preset_config",
    "preset_create",
    "run_claim_next",
    "run_clone",
    "run_finish",
    "run_fork",
    "run_heartbeat",
    "run_queue",
    "run_record_progress",
    "run_release",
    "run_set_paused",
    "runs_reap_expired",
    "runs_wake_stranded",
    "wake_worker",
]
