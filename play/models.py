"""A person's game against a checkpoint, while it is played (the play page).

The finished game is kept as a ``runs.GameRecord`` of the checkpoint's run (source
``human``); this row keeps what the page needs meanwhile: the moves so far, whose side is
whose, how the network chooses, and the last state and analysis the engine answered, so a
reload shows the board without asking the network again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Side(models.TextChoices):
    BLACK = "black"  # sente: moves first
    WHITE = "white"


class PlayMode(models.TextChoices):
    GREEDY = "greedy"  # the network's likeliest move
    SAMPLED = "sampled"  # drawn from its policy at the game's temperature


class PlayStatus(models.TextChoices):
    ACTIVE = "active"
    FINISHED = "finished"


class PlayGame(models.Model):
    """A game of ``user`` against ``checkpoint``: moves change by compare-and-swap on ``ply``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="play_games"
    )
    checkpoint = models.ForeignKey(
        "runs.Checkpoint", on_delete=models.CASCADE, related_name="play_games"
    )
    side = models.CharField(max_length=5, choices=Side.choices, help_text="the person's side")
    mode = models.CharField(max_length=8, choices=PlayMode.choices, default=PlayMode.GREEDY)
    temperature = models.FloatField(default=1.0, help_text="of the sampled mode")
    seed = models.BigIntegerField(default=0, help_text="the sampled moves' seed (plus the ply)")
    start_sfen = models.CharField(max_length=200, default="startpos")
    moves = models.JSONField(default=list, help_text="USI moves in order")
    ply = models.PositiveIntegerField(default=0, help_text="len(moves): the change guard")
    status = models.CharField(max_length=9, choices=PlayStatus.choices, default=PlayStatus.ACTIVE)
    result = models.CharField(max_length=16, blank=True, help_text="black_win, white_win, draw")
    reason = models.CharField(max_length=32, blank=True)
    state = models.JSONField(default=dict, help_text="the engine's last answer: position etc.")
    analysis = models.JSONField(null=True, blank=True, help_text="of the position shown")
    model_move = models.CharField(max_length=8, blank=True, help_text="the network's last move")
    record = models.ForeignKey(
        "runs.GameRecord",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="the stored game, once finished",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="play_game_user_updated")]

    def __str__(self) -> str:
        return f"{self.user} vs checkpoint {self.checkpoint_id} ({self.status}, ply {self.ply})"
