"""Pages of games by step and of live games: the game a chart's click opens, and the arena.

Thin, as every page: access through ``runs.access``, one selector, a response. Refusals are
answered by ``runs.pages`` (a step that cannot be read is a 400 naming the field).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from monitoring.errors import NotFound
from runs import access
from runs.selectors.games import chart_step_parse, game_record_nearest


@login_required
def game_record_nearest_page(request: HttpRequest, run_id: int) -> HttpResponse:
    """``?step=S[&source=evaluation]``: to the replay viewer of the run's stored game nearest
    step S (what a click on a chart opens); 404 when the run has no stored game (of that
    source)."""
    run = access.run_for_viewer(user=request.user, run_id=run_id)
    step, source = chart_step_parse(
        raw_step=request.GET.get("step"), raw_source=request.GET.get("source")
    )
    record = game_record_nearest(run=run, step=step, source=source)
    if record is None:
        raise NotFound(
            f"run {run.pk} has no stored {source + ' ' if source else ''}game to show yet"
        )
    return redirect(reverse("runs:game", args=[run.pk, record.pk]))


@login_required
def arena(request: HttpRequest) -> HttpResponse:
    """Every live game the user may see, as a grid of small boards over ``/ws/arena/``
    (static/js/arena_page.js); a click opens one large with its moves and the analysis."""
    return render(request, "runs/arena.html")
