"""Server-rendered pages. Each checks access through the selectors, then renders."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from keisei.registry import UnknownTrainer, available_trainers, get_trainer
from monitoring import selectors as monitoring_selectors
from monitoring.history import CompareRefused, Series, metric_series_downsampled
from runs import selectors, services
from runs.downloads import checkpoint_download_response
from runs.forms import RunForm
from runs.models import Checkpoint, Run

# The chart on the run page draws these keys first, when the trainer reports them.
CHART_KEYS = (
    "charts/win_rate_vs_random",
    "charts/val_accuracy",
    "losses/train_loss",
    "losses/val_loss",
    "losses/policy_loss",
    "losses/value_loss",
    "charts/win_rate",
)


RUN_LIST_LIMIT = 200


def _visible_run(request: HttpRequest, run_id: int) -> Run:
    try:
        return selectors.run_get_visible(user=request.user, run_id=run_id)
    except Run.DoesNotExist:
        raise Http404("no such run") from None


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = selectors.run_list_visible(user=request.user)[:RUN_LIST_LIMIT]
    return render(request, "runs/list.html", {"runs": runs, "trainers": available_trainers()})


@login_required
def run_compare(request: HttpRequest) -> HttpResponse:
    """One metric of several runs on one chart: ``?runs=7&runs=9`` (or ``runs=7,9``), ``key``."""
    try:
        runs = selectors.runs_to_compare(user=request.user, raw_ids=request.GET.getlist("runs"))
    except CompareRefused as exc:
        return render(request, "runs/compare.html", {"error": str(exc)}, status=400)
    except Run.DoesNotExist:
        raise Http404("no such run") from None
    keys, chart = selectors.compare_chart(
        runs=runs, key=request.GET.get("key", ""), preferred=CHART_KEYS
    )
    return render(request, "runs/compare.html", {"runs": runs, "keys": keys, "chart": chart})


@login_required
def run_table(request: HttpRequest) -> HttpResponse:
    """The runs list's table, for the live list to swap in when a run appears or changes."""
    runs = selectors.run_list_visible(user=request.user)[:RUN_LIST_LIMIT]
    return render(request, "runs/_runs_table.html", {"runs": runs})


@login_required
def run_new(request: HttpRequest) -> HttpResponse:
    trainer = request.GET.get("trainer") or request.POST.get("trainer") or "digits"
    try:
        trainer_cls = get_trainer(trainer)
    except UnknownTrainer:
        raise Http404(f"unknown trainer {trainer!r}") from None
    preset = request.GET.get("preset", "")
    initial = {}
    if preset:
        try:
            initial = services.preset_config(user=request.user, trainer=trainer, preset=preset)
        except services.RunConfigError as exc:
            messages.error(request, str(exc))
    form = RunForm(request.POST or None, trainer=trainer, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.run_queue(
                owner=request.user,
                trainer=trainer,
                config=form.cleaned_data["config"],
                name=form.cleaned_data.get("name", ""),
            )
        except services.QuotaExceeded as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{run.display_name} is queued.")
            return redirect("runs:detail", run_id=run.pk)
    return render(
        request,
        "runs/new.html",
        {
            "form": form,
            "trainer": trainer,
            "trainer_cls": trainer_cls,
            "presets": sorted(trainer_cls.presets),
            "saved_presets": selectors.preset_list_visible(user=request.user).filter(
                trainer=trainer
            ),
            "preset": preset,
            "trainers": available_trainers(),
        },
    )


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _visible_run(request, run_id)
    latest = monitoring_selectors.metrics_latest(run_id=run.pk)
    chart_key = next((k for k in CHART_KEYS if k in latest), next(iter(sorted(latest)), ""))
    series = (
        metric_series_downsampled(run_id=run.pk, key=chart_key, max_points=2000)
        if chart_key
        else Series()
    )
    return render(
        request,
        "runs/detail.html",
        {
            "run": run,
            "latest": sorted(latest.items()),
            "chart": {
                "key": chart_key,
                "steps": series.step,
                "values": series.as_dict()["value"],
            },
            "snapshot": selectors.run_as_dict(run),
            "may_change": selectors.run_may_change(request.user, run),
            "queue_position": selectors.run_queue_position(run),
            "commands": run.commands.select_related("requested_by").order_by("-created_at")[:20],
            "supported_commands": supported_commands(run.trainer),
            "board_expected": run.trainer == "shogi-ppo",
            **_artifacts(run),
        },
    )


@login_required
def run_artifacts(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run page's checkpoints, evaluations and games, for the live page to swap in when
    the timeline says one was added."""
    run = _visible_run(request, run_id)
    return render(request, "runs/_artifacts.html", {"run": run, **_artifacts(run)})


def _artifacts(run: Run) -> dict[str, Any]:
    return {
        "checkpoints": run.checkpoints.all()[:50],
        "evaluations": run.evaluations.all()[:20],
        "game_records": run.game_records.defer("kif", "csa", "moves")[:20],
    }


@login_required
@require_POST
def run_command(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _visible_run(request, run_id)
    if not selectors.run_may_change(request.user, run):
        return HttpResponse("you may not steer this run", status=403)
    kind = request.POST.get("kind", "")
    try:
        params = command_params(request.POST)
        services.command_request(run=run, user=request.user, kind=kind, params=params)
    except services.CommandRejected as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{kind} requested")
    return redirect("runs:detail", run_id=run.pk)


@login_required
@require_POST
def run_clone(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _visible_run(request, run_id)
    try:
        clone = services.run_clone(run=run, user=request.user)
    except (services.QuotaExceeded, services.RunConfigError) as exc:
        messages.error(request, str(exc))
        return redirect("runs:detail", run_id=run.pk)
    messages.success(request, f"{clone.display_name} is queued.")
    return redirect("runs:detail", run_id=clone.pk)


def supported_commands(trainer: str) -> frozenset[str]:
    try:
        return get_trainer(trainer).supported_commands()
    except UnknownTrainer:
        return frozenset()


# Parameters the page's sample/evaluate form may send, with how each is read.
COMMAND_PARAMS = {"opponent": str, "temperature": float, "games": int, "max_plies": int}


def command_params(form) -> dict:
    """The non-empty parameters of the command form; a malformed number is refused by name."""
    params = {}
    for name, parse in COMMAND_PARAMS.items():
        raw = form.get(name, "").strip()
        if not raw:
            continue
        try:
            params[name] = parse(raw)
        except ValueError:
            raise services.CommandRejected(f"params.{name}: {raw!r} is not a number") from None
    kind = form.get("kind")
    if kind == "sample":
        params.pop("games", None)
    elif kind != "evaluate":
        params = {}
    return params


@login_required
def game_record_download(
    request: HttpRequest, run_id: int, record_id: int, fmt: str
) -> HttpResponse:
    run = _visible_run(request, run_id)
    record = run.game_records.filter(pk=record_id).first()
    if record is None or fmt not in ("kif", "csa"):
        raise Http404("no such game record")
    text = record.kif if fmt == "kif" else record.csa
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run{run.pk}-game{record.pk}.{fmt}"'
    return response


@login_required
def checkpoint_download(request: HttpRequest, run_id: int, checkpoint_id: int) -> HttpResponse:
    try:
        checkpoint = selectors.checkpoint_get_visible(
            user=request.user, run_id=run_id, checkpoint_id=checkpoint_id
        )
    except (Run.DoesNotExist, Checkpoint.DoesNotExist):
        raise Http404("no such checkpoint") from None
    return checkpoint_download_response(checkpoint)


@login_required
def league(request: HttpRequest) -> HttpResponse:
    """The league standings: every rating, and the runs this user may see by name."""
    return render(
        request,
        "runs/league.html",
        {
            "entries": services.league_standings(user=request.user),
            "k_factor": services.league.K_FACTOR,
            "games_per_match": settings.KEISEI_LEAGUE_GAMES,
        },
    )
