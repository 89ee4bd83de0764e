from django.urls import path

from runs import api, game_pages, views
from runs.api import analysis as analysis_api

app_name = "runs"

urlpatterns = [
    path("", views.run_list, name="list"),
    path("new/", views.run_new, name="new"),
    path("table/", views.run_table, name="table"),
    path("compare/", views.run_compare, name="compare"),
    path("<int:run_id>/", views.run_detail, name="detail"),
    path("<int:run_id>/artifacts/", views.run_artifacts, name="artifacts"),
    path("<int:run_id>/command/", views.run_command, name="command"),
    path("<int:run_id>/edit/", views.run_edit, name="edit"),
    path("<int:run_id>/sharing/", views.run_sharing_edit, name="sharing"),
    path("<int:run_id>/timeline/", views.run_timeline, name="timeline"),
    path("<int:run_id>/games/<int:record_id>/", views.game_record_page, name="game"),
    path(
        "<int:run_id>/games/nearest/",
        game_pages.game_record_nearest_page,
        name="game-nearest",
    ),
    path(
        "<int:run_id>/games/<int:record_id>.<str:fmt>",
        views.game_record_download,
        name="game-record",
    ),
    path(
        "<int:run_id>/checkpoints/<int:checkpoint_id>/download/",
        views.checkpoint_download,
        name="checkpoint-download",
    ),
    path("arena/", game_pages.arena, name="arena"),
    path("league/", views.league, name="league"),
    path("league/showcase/", views.league_showcase, name="showcase-new"),
    path("<int:run_id>/showcase/<int:evaluation_id>/", views.showcase_page, name="showcase"),
    path(
        "<int:run_id>/showcase/<int:evaluation_id>/state/",
        views.showcase_state,
        name="showcase-state",
    ),
]

api_urlpatterns = [
    path("runs/", api.RunListCreateApi.as_view(), name="api-runs"),
    path("runs/<int:run_id>/", api.RunDetailApi.as_view(), name="api-run"),
    path("runs/<int:run_id>/commands/", api.RunCommandsApi.as_view(), name="api-run-commands"),
    path("runs/<int:run_id>/clone/", api.RunCloneApi.as_view(), name="api-run-clone"),
    path("runs/<int:run_id>/requeue/", api.RunRequeueApi.as_view(), name="api-run-requeue"),
    path("runs/<int:run_id>/sharing/", api.RunSharingApi.as_view(), name="api-run-sharing"),
    path("presets/", api.PresetListCreateApi.as_view(), name="api-presets"),
    path("presets/<int:preset_id>/", api.PresetDetailApi.as_view(), name="api-preset"),
    path("runs/<int:run_id>/fork/", api.RunForkApi.as_view(), name="api-run-fork"),
    path("runs/<int:run_id>/checkpoints/", api.RunCheckpointsApi.as_view(), name="api-checkpoints"),
    path(
        "runs/<int:run_id>/checkpoints/<int:checkpoint_id>/download/",
        api.CheckpointDownloadApi.as_view(),
        name="api-checkpoint-download",
    ),
    path(
        "runs/<int:run_id>/checkpoints/<int:checkpoint_id>/evaluate/",
        api.CheckpointEvaluateApi.as_view(),
        name="api-checkpoint-evaluate",
    ),
    path("runs/<int:run_id>/evaluations/", api.RunEvaluationsApi.as_view(), name="api-evaluations"),
    path("runs/<int:run_id>/games/", api.RunGameRecordsApi.as_view(), name="api-game-records"),
    path(
        "runs/<int:run_id>/games/<int:record_id>/",
        api.GameRecordApi.as_view(),
        name="api-game-record",
    ),
    path("runs/<int:run_id>/analysis/", analysis_api.RunAnalysisApi.as_view(), name="api-analysis"),
    path(
        "runs/<int:run_id>/games/<int:record_id>/analysis/",
        analysis_api.GameAnalysisApi.as_view(),
        name="api-game-analysis",
    ),
    path("league/", api.LeagueApi.as_view(), name="api-league"),
    path("trainers/", api.TrainerListApi.as_view(), name="api-trainers"),
    path("trainers/<str:name>/", api.TrainerDetailApi.as_view(), name="api-trainer"),
    path(
        "trainers/<str:name>/validate/",
        api.TrainerValidateApi.as_view(),
        name="api-trainer-validate",
    ),
    path("me/", api.MeApi.as_view(), name="api-me"),
]
