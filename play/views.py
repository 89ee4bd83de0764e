"""The play pages: choose a checkpoint, a side and how it plays; then the board."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from monitoring.errors import ApplicationError
from play import selectors, services
from play.models import PlayMode, Side


@login_required
def play_index(request: HttpRequest) -> HttpResponse:
    """The form (``?checkpoint=ID`` preselects one); a POST starts the game and opens it, or
    shows each refusal on its field."""
    values = {
        "checkpoint": request.GET.get("checkpoint", ""),
        "side": Side.BLACK.value,
        "mode": PlayMode.GREEDY.value,
        "temperature": f"{services.TEMPERATURE_DEFAULT:g}",
    }
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        values = {name: request.POST.get(name, "") for name in values}
        try:
            game = services.play_game_create(user=request.user, **values)
        except ApplicationError as exc:
            # One that may not be seen is answered as on the API (404), on the form's field.
            errors = exc.fields or {"checkpoint": [exc.message]}
            status = exc.status
        else:
            return redirect("play:game", game_id=game.pk)
    return render(
        request,
        "play/index.html",
        {
            "choices": selectors.play_checkpoint_choices(
                user=request.user, chosen=values["checkpoint"]
            ),
            "games": selectors.play_games_recent(user=request.user),
            "values": values,
            "errors": errors,
            "temperature_min": services.TEMPERATURE_MIN,
            "temperature_max": services.TEMPERATURE_MAX,
        },
        status=status,
    )


@login_required
def play_game_page(request: HttpRequest, game_id: int) -> HttpResponse:
    """A game on the board; static/js/play_page.js plays it through the API."""
    game = selectors.play_game_for_user(user=request.user, game_id=game_id)
    return render(request, "play/game.html", {"game": game, "view": selectors.play_game_view(game)})
