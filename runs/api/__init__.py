"""The REST API (``/api/v1/``): thin views over services and selectors, one module per
subject, each view annotated for the OpenAPI schema (``/api/schema/``).

Access is ``runs.access``'s; every refusal (``NotFound``, a service's ``ApplicationError``,
DRF's own) is answered by ``monitoring.errors.api_exception_handler`` in one body.
"""

from runs.api.artifacts import (
    CheckpointDownloadApi,
    CheckpointEvaluateApi,
    GameRecordApi,
    RunCheckpointsApi,
    RunEvaluationsApi,
    RunGameRecordsApi,
)
from runs.api.presets import LeagueApi, PresetDetailApi, PresetListCreateApi
from runs.api.runs import (
    RunCloneApi,
    RunCommandsApi,
    RunDetailApi,
    RunForkApi,
    RunListCreateApi,
    RunRequeueApi,
)
from runs.api.sharing import RunSharingApi
from runs.api.trainers import MeApi, TrainerDetailApi, TrainerListApi, TrainerValidateApi

__all__ = [
    "CheckpointDownloadApi",
    "CheckpointEvaluateApi",
    "GameRecordApi",
    "LeagueApi",
    "MeApi",
    "PresetDetailApi",
    "PresetListCreateApi",
    "RunCheckpointsApi",
    "RunCloneApi",
    "RunCommandsApi",
    "RunDetailApi",
    "RunEvaluationsApi",
    "RunForkApi",
    "RunGameRecordsApi",
    "RunListCreateApi",
    "RunRequeueApi",
    "RunSharingApi",
    "TrainerDetailApi",
    "TrainerListApi",
    "TrainerValidateApi",
]
