"""Writes of the run lifecycle. Pages, the API, the admin and tasks all call these."""

from runs.services.checkpoints import (
    checkpoint_fetch,
    checkpoint_record,
    checkpoints_prune,
)
from runs.services.commands import (
    command_acknowledge,
    command_finish,
    command_request,
)
from runs.services.errors import (
    ApplicationError,
    CheckpointUnusable,
    CommandRejected,
    EvaluationRejected,
    NotFound,
    QuotaExceeded,
    RunConfigError,
)
from runs.services.evaluations import (
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
)
from runs.services.lifecycle import (
    config_validate,
    run_claim_next,
    run_clone,
    run_edit,
    run_finish,
    run_fork,
    run_heartbeat,
    run_queue,
    run_record_progress,
    run_release,
    run_requeue,
    run_set_paused,
    runs_reap_expired,
    runs_wake_stranded,
    wake_worker,
)
from runs.services.presets import preset_config, preset_create, preset_delete
from runs.services.records import evaluation_store, game_record_store

__all__ = [
    "ApplicationError",
    "CheckpointUnusable",
    "CommandRejected",
    "EvaluationRejected",
    "NotFound",
    "QuotaExceeded",
    "RunConfigError",
    "checkpoint_fetch",
    "checkpoint_record",
    "checkpoints_prune",
    "command_acknowledge",
    "command_finish",
    "command_request",
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
    "preset_config",
    "preset_create",
    "preset_delete",
    "run_claim_next",
    "run_clone",
    "run_edit",
    "run_finish",
    "run_fork",
    "run_heartbeat",
    "run_queue",
    "run_record_progress",
    "run_release",
    "run_requeue",
    "run_set_paused",
    "runs_reap_expired",
    "runs_wake_stranded",
    "wake_worker",
]
