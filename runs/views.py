"""Server-rendered pages. Each checks access through ``runs.access``, calls one service or
selector, and renders. Refusals are answered by ``runs.pages`` (never mapped here by hand)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from keisei.registry import UnknownTrainer, available_trainers, get_trainer
from monitoring import selectors as monitoring_selectors
from monitoring.errors import ApplicationError, NotFound
from runs import access, selectors, services
from runs import models as run_models
from runs.downloads import (
    GAME_RECORD_FORMATS,
    checkpoint_download_response,
    game_record_download_response,
)
from runs.forms import CommandForm, RunForm, SharingForm
from runs.models import Run
from runs.pages import form_submit, redirect_on_refusal
from runs.selectors.analysis import analysis_checkpoints, game_record_checkpoint
from runs.selectors.explain import run_alerts, run_explanation
from runs.selectors.federation import run_federation_state
from runs.selectors.sharing import run_shared_by, run_sharing
from runs.services import showcase
from runs.services.sharing import run_sharing_set
from runs.trainers import Capability, trainer_can

# The compare page charts the first of these its runs report, unless a key is asked for (the
# run page groups its keys in the browser: static/js/charts.js).
CHART_KEYS = (
    "charts/win_rate_vs_random",
    "charts/val_accuracy",
    "losses/train_loss",
    "losses/val_loss",
    "losses/policy_loss",
    "losses/value_loss",
    "charts/win_rate",
)


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    """The runs as a dashboard: the API's filters, a sort and a page (``runs.selectors.
    run_dashboard``). An htmx request (the filter form, a sort or page link) gets the table
    alone; the address bar keeps the page's URL, so a reload or a shared link shows the same."""
    dashboard = _dashboard(request)
    if request.headers.get("HX-Request"):
        return render(request, "runs/_runs_table.html", dashboard)
    return render(
        request,
        "runs/list.html",
        {
            **dashboard,
            "trainers": available_trainers(),
            "may_queue": access.role_of(request.user) != "viewer",
        },
    )


# The runs list's sortable columns (runs.selectors.DASHBOARD_SORTS) and their headings.
SORT_HEADERS = (
    ("name", "Run"),
    ("trainer", "Trainer"),
    ("status", "Status"),
    ("step", "Step"),
    ("progress", "Progress"),
    ("created", "Created"),
)


def _dashboard(request: HttpRequest) -> dict[str, Any]:
    dashboard = selectors.run_dashboard(
        user=request.user, query=request.GET, headline_keys=CHART_KEYS
    )
    query = request.GET.copy()
    query.pop("page", None)
    unsorted = query.copy()
    unsorted.pop("sort", None)
    sort = dashboard.sort
    headers = [
        {
            "label": label,
            "sort": f"-{key}" if sort == key else key,
            "aria": "ascending" if sort == key else "descending" if sort == f"-{key}" else "",
        }
        for key, label in SORT_HEADERS
    ]
    return {
        "dashboard": dashboard,
        "rows": dashboard.rows,
        "headers": dict(zip((k for k, _ in SORT_HEADERS), headers, strict=True)),
        "statuses": run_models.RunStatus.choices,
        "query": query.urlencode(),  # the filters and sort, for page links
        "unsorted_query": unsorted.urlencode(),  # the filters, for sort links
        "full_query": request.GET.urlencode(),
    }


@login_required
def run_compare(request: HttpRequest) -> HttpResponse:
    """One metric of several runs on one chart: ``?runs=7&runs=9`` (or ``runs=7,9``), ``key``."""
    runs = selectors.runs_to_compare(user=request.user, raw_ids=request.GET.getlist("runs"))
    keys, chart = selectors.compare_chart(
        runs=runs, key=request.GET.get("key", ""), preferred=CHART_KEYS
    )
    return render(
        request,
        "runs/compare.html",
        {
            "runs": runs,
            "keys": keys,
            "chart": {
                **chart,
                "keys": keys,
                "live": [r.pk for r in runs if r.status in ("queued", "running", "paused")],
            },
            "config_diff": selectors.compare_config_diff(runs),
        },
    )


@login_required
def run_table(request: HttpRequest) -> HttpResponse:
    """The runs list's table with the same query as the page, for the live list to swap in
    when a run appears or changes."""
    return render(request, "runs/_runs_table.html", _dashboard(request))


# The last submissions of the run form each person made (their one-time ids -> run ids): a
# form sent twice (a double click, Back then send again) shows the run it queued first.
SUBMISSIONS_KEPT = 20


@login_required
def run_new(request: HttpRequest) -> HttpResponse:
    """The run form. ``?trainer=`` and ``?preset=`` pick the starting values; ``?from=<run>``
    prefills a clone of a visible run (its trainer and config), ``&checkpoint=<id>`` makes it
    a fork starting from that checkpoint (``services.run_fork``). POST queues and redirects.
    A viewer is refused before the form is shown (403, naming the role)."""
    access.ensure_may_queue(request.user)
    params = request.POST if request.method == "POST" else request.GET
    source, checkpoint = _form_source(request.user, params)
    trainer = source.trainer if source else params.get("trainer") or "digits"
    try:
        trainer_cls = get_trainer(trainer)
    except UnknownTrainer:
        raise Http404(f"unknown trainer {trainer!r}") from None
    preset = params.get("preset", "")
    baseline: dict[str, Any] = {}
    if preset:
        try:
            baseline = services.preset_config(user=request.user, trainer=trainer, preset=preset)
        except services.RunConfigError as exc:  # a stale preset link: say so, offer the form
            messages.error(request, exc.message)
            preset = ""
    initial: dict[str, Any] = dict(source.config) if source else dict(baseline)
    if source is not None:
        initial["name"] = (
            f"fork of {source.display_name} at step {checkpoint.step}"
            if checkpoint
            else f"copy of {source.display_name}"
        )
    form = RunForm(request.POST or None, trainer=trainer, initial=initial, baseline=baseline)
    submission = params.get("submission") or uuid.uuid4().hex
    if request.method == "POST":
        done = request.session.get("run_submissions", {}).get(submission)
        if done is not None:  # sent twice: the first one queued it
            messages.info(request, "This form was already sent; here is the run it queued.")
            return redirect("runs:detail", run_id=done)
        if form.is_valid():
            run = form_submit(form, lambda: _queue(request.user, form, trainer, source, checkpoint))
            if run is not None:
                _remember_submission(request, submission, run.pk)
                messages.success(request, f"{run.display_name} is queued.")
                return redirect("runs:detail", run_id=run.pk)
    return render(
        request,
        "runs/new.html",
        {
            "form": form,
            "sections": form.sections(),
            "trainer": trainer,
            "trainer_cls": trainer_cls,
            "presets": sorted(trainer_cls.presets),
            "saved_presets": selectors.preset_list_visible(user=request.user, trainer=trainer),
            "preset": preset,
            "trainers": available_trainers(),
            "source": source,
            "checkpoint": checkpoint,
            "submission": submission,
        },
    )


def _form_source(user: Any, params: Any) -> tuple[Run | None, Any]:
    """The run (and checkpoint) the form starts from: ``from`` and ``checkpoint``, each a
    404 unless it is one ``user`` may see."""
    raw_run, raw_checkpoint = params.get("from", ""), params.get("checkpoint", "")
    if not raw_run:
        return None, None
    if not raw_run.isdigit() or (raw_checkpoint and not raw_checkpoint.isdigit()):
        raise Http404("no such run")
    source = access.run_for_viewer(user=user, run_id=int(raw_run))
    if not raw_checkpoint:
        return source, None
    checkpoint = selectors.run_checkpoint(source, checkpoint_id=int(raw_checkpoint))
    if checkpoint is None:
        raise Http404("no such checkpoint of this run")
    return source, checkpoint


def _queue(user: Any, form: RunForm, trainer: str, source: Run | None, checkpoint: Any) -> Run:
    data = form.cleaned_data
    if source is not None and checkpoint is not None:
        return services.run_fork(
            run=source,
            user=user,
            checkpoint=checkpoint,
            config_changes=data["config"],
            name=data.get("name", ""),
        )
    return services.run_queue(
        owner=user,
        trainer=trainer,
        config=data["config"],
        name=data.get("name", ""),
        parent=source,
        tags=data.get("tags", []),
        notes=data.get("notes", ""),
    )


def _remember_submission(request: HttpRequest, submission: str, run_id: int) -> None:
    done = dict(request.session.get("run_submissions", {}))
    done[submission] = run_id
    request.session["run_submissions"] = dict(list(done.items())[-SUBMISSIONS_KEPT:])


# The newest alerts drawn as markers on the charts when the page opens (live ones add to them).
ALERT_MARKERS = 200


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = access.run_for_viewer(user=request.user, run_id=run_id)
    latest = monitoring_selectors.metrics_latest(run_id=run.pk)
    queue_position = selectors.run_queue_position(run)
    timeline = selectors.run_timeline_page(run)
    waiting_for = selectors.run_waiting_for(run)
    snapshot = selectors.run_as_dict(run, queue_position=queue_position, waiting_for=waiting_for)
    may_change = access.may_steer_run(user=request.user, run=run)
    explanation = run_explanation(run=run)
    return render(
        request,
        "runs/detail.html",
        {
            "run": run,
            "explanation": explanation,
            "latest": sorted(latest.items()),
            "client_metric_count": sum(key.startswith("clients/") for key in latest),
            # The charts are drawn in the browser from the keys (static/js/charts.js groups
            # them the same way whether they come with the page or arrive live).
            "snapshot": {
                **snapshot,
                "keys": sorted(latest),
                "last_seq": timeline["last_seq"] or 0,
                # A click on a chart opens a stored game; alerts are markers on their key's.
                "has_games": explanation["has_games"],
                "alerts": run_alerts(run=run, limit=ALERT_MARKERS),
            },
            "config_sections": selectors.run_config_sections(run),
            "timeline": timeline,
            "may_change": may_change,
            # The Sharing card for who may change it; "shared with you by" for who only watches.
            "sharing": run_sharing(run) if may_change else None,
            "shared_by": run_shared_by(run=run, user=request.user),
            "queue_position": queue_position,
            "waiting_for": waiting_for,
            "commands": selectors.run_commands_recent(run),
            "supported_commands": supported_commands(run.trainer),
            "builtin_opponents": builtin_opponents(run.trainer),
            "board_expected": run.trainer == "shogi-ppo",
            "analysis_offered": trainer_can(run.trainer, Capability.ANALYSES_POSITIONS),
            # None unless the run trains federated: the clients panel is left out then
            "federation": run_federation_state(run=run, latest=latest),
            **selectors.run_artifacts(run),
        },
    )


@login_required
def run_timeline(request: HttpRequest, run_id: int) -> HttpResponse:
    """Older events of the run's timeline (``?before_seq=``), for "Load older"."""
    run = access.run_for_viewer(user=request.user, run_id=run_id)
    raw = request.GET.get("before_seq", "")
    if not raw.isdigit():
        return HttpResponse("before_seq: must be a non-negative integer", status=400)
    timeline = selectors.run_timeline_page(run, before_seq=int(raw))
    return render(request, "runs/_timeline.html", {"run": run, "timeline": timeline})


@login_required
@require_POST
@redirect_on_refusal("runs:detail")
def run_edit(request: HttpRequest, run_id: int) -> HttpResponse:
    """Name, tags and notes from the run page; refusals name the field."""
    run = access.run_for_steerer(user=request.user, run_id=run_id)
    tags = [t.strip() for t in request.POST.get("tags", "").split(",") if t.strip()]
    try:
        services.run_edit(
            run_id=run.pk,
            name=request.POST.get("name", ""),
            tags=tags,
            notes=request.POST.get("notes", ""),
        )
    except services.RunConfigError as exc:  # each reason named by its field
        messages.error(request, exc.message)
    else:
        messages.success(request, "Saved.")
    return redirect("runs:detail", run_id=run.pk)


@login_required
@require_POST
@redirect_on_refusal("runs:detail")
def run_sharing_edit(request: HttpRequest, run_id: int) -> HttpResponse:
    """The Sharing card: public or not, and the users and groups it is shared with (owner or
    staff); an unknown name is an error message naming the field and the name."""
    run = access.run_for_steerer(user=request.user, run_id=run_id)
    form = SharingForm(request.POST)
    if not form.is_valid():
        reasons = [f"{name}: {', '.join(map(str, errs))}" for name, errs in form.errors.items()]
        messages.error(request, "; ".join(reasons))
        return redirect("runs:detail", run_id=run.pk)
    run_sharing_set(run=run, by=request.user, **form.sharing())
    messages.success(request, "Sharing saved.")
    return redirect("runs:detail", run_id=run.pk)


@login_required
def run_artifacts(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run page's checkpoints, evaluations and games, for the live page to swap in when
    the timeline says one was added."""
    run = access.run_for_viewer(user=request.user, run_id=run_id)
    return render(request, "runs/_artifacts.html", {"run": run, **selectors.run_artifacts(run)})


@login_required
@require_POST
def run_command(request: HttpRequest, run_id: int) -> HttpResponse:
    """A steering button. The page sends it by fetch (``Accept: application/json``) and gets
    ``{"message"}`` or ``{"error"}`` back; without JavaScript, the form posts and is redirected."""
    wants_json = "application/json" in request.headers.get("Accept", "")
    run = access.run_for_steerer(user=request.user, run_id=run_id)
    form = CommandForm(request.POST)
    if not form.is_valid():
        return _command_answer(request, run, form.refusal(), ok=False, wants_json=wants_json)
    kind = form.cleaned_data["kind"]
    try:
        services.command_request(run=run, user=request.user, kind=kind, params=form.params())
    except NotFound:
        raise
    except ApplicationError as exc:
        return _command_answer(
            request, run, exc.message, ok=False, wants_json=wants_json, status=exc.status
        )
    return _command_answer(request, run, f"{kind} requested", ok=True, wants_json=wants_json)


def _command_answer(
    request: HttpRequest,
    run: Run,
    text: str,
    *,
    ok: bool,
    wants_json: bool,
    status: int = 400,
) -> HttpResponse:
    if wants_json:
        return JsonResponse(
            {"message": text} if ok else {"error": text}, status=200 if ok else status
        )
    (messages.success if ok else messages.error)(request, text)
    return redirect("runs:detail", run_id=run.pk)


def supported_commands(trainer: str) -> frozenset[str]:
    try:
        return get_trainer(trainer).supported_commands()
    except UnknownTrainer:
        return frozenset()


def builtin_opponents(trainer: str) -> list[str]:
    """The trainer's built-in players, for the opponent field (sorted)."""
    try:
        return sorted(get_trainer(trainer).builtin_opponents)
    except UnknownTrainer:
        return []


@login_required
def game_record_download(
    request: HttpRequest, run_id: int, record_id: int, fmt: str
) -> HttpResponse:
    if fmt not in GAME_RECORD_FORMATS:
        raise Http404("no such game record")
    record = access.game_record_for_viewer(user=request.user, run_id=run_id, record_id=record_id)
    return game_record_download_response(record, fmt)


# How the viewer names a stored result (GameRecord.result).
GAME_RESULT_LABELS = {
    "black_win": "☗ sente (black) won",
    "white_win": "☖ gote (white) won",
    "draw": "draw",
    "unfinished": "unfinished",
}


@login_required
def game_record_page(request: HttpRequest, run_id: int, record_id: int) -> HttpResponse:
    """One stored game in the viewer; its positions are replayed in the browser from the
    start SFEN and the USI moves (static/js/game_viewer.js)."""
    record = access.game_record_for_viewer(user=request.user, run_id=run_id, record_id=record_id)
    return render(
        request,
        "runs/game.html",
        {
            "run": record.run,
            "record": record,
            "result_label": GAME_RESULT_LABELS.get(record.result, record.result),
            "game": {"start_sfen": record.start_sfen, "moves": list(record.moves)},
            # Analysis by the checkpoint that played the game, or any of the run's (analysis.js).
            "analysis_offered": trainer_can(record.run.trainer, Capability.ANALYSES_POSITIONS),
            "analysis_mode": "game",
            "analysis_checkpoints": analysis_checkpoints(record.run),
            "analysis_default": game_record_checkpoint(record),
        },
    )


@login_required
def checkpoint_download(request: HttpRequest, run_id: int, checkpoint_id: int) -> HttpResponseBase:
    checkpoint = access.checkpoint_for_viewer(
        user=request.user, run_id=run_id, checkpoint_id=checkpoint_id
    )
    return checkpoint_download_response(checkpoint)


@login_required
def league(request: HttpRequest) -> HttpResponse:
    """The league: standings, head-to-head, recent matches with their games and ratings over
    time; every rating is public, a run (its name, owner, games) only to those who may see it."""
    page = selectors.league_page(user=request.user)
    return render(
        request,
        "runs/league.html",
        {
            "entries": page.standings,
            "page": page,
            "k_factor": services.league.K_FACTOR,
            "games_per_match": settings.KEISEI_LEAGUE_GAMES,
        },
    )


@login_required
def league_showcase(request: HttpRequest) -> HttpResponse:
    """The showcase form: two players and a speed; a POST queues their game
    (``services.showcase``) and opens its page, or shows each refusal on its field."""
    values = {"black": "", "white": "random", "speed": str(showcase.SPEED_DEFAULT)}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {name: request.POST.get(name, "") for name in values}
        try:
            evaluation, speed = showcase.showcase_request(user=request.user, **values)
        except showcase.ShowcaseRejected as exc:
            errors = exc.fields
        else:
            url = reverse("runs:showcase", args=[evaluation.run_id, evaluation.pk])
            return redirect(f"{url}?speed={speed:g}")
    return render(
        request,
        "runs/showcase_new.html",
        {
            "choices": selectors.showcase_choices(user=request.user),
            "values": values,
            "errors": errors,
            "speed_min": showcase.SPEED_MIN,
            "speed_max": showcase.SPEED_MAX,
        },
        status=400 if errors else 200,
    )


@login_required
def showcase_page(request: HttpRequest, run_id: int, evaluation_id: int) -> HttpResponse:
    """A showcase game: waits for the worker to play it, then replays it on the board."""
    speed = showcase.showcase_speed(request.GET.get("speed"))
    state = selectors.showcase_for_viewer(
        user=request.user, run_id=run_id, evaluation_id=evaluation_id
    )
    return render(
        request,
        "runs/showcase.html",
        {
            "showcase": state,
            "speed": speed,
            "speed_min": showcase.SPEED_MIN,
            "speed_max": showcase.SPEED_MAX,
            "state_url": reverse("runs:showcase-state", args=[run_id, evaluation_id]),
        },
    )


@login_required
def showcase_state(request: HttpRequest, run_id: int, evaluation_id: int) -> JsonResponse:
    """A showcase's state (and its game once played), polled by static/js/showcase.js."""
    return JsonResponse(
        selectors.showcase_for_viewer(user=request.user, run_id=run_id, evaluation_id=evaluation_id)
    )
