"""Runs and the commands people send them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from runs.leases import Leased, LeaseTerms


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"  # a person's stop ended it early, after a final checkpoint
    CANCELLED = "cancelled"  # cancelled while queued: it never trained (this time)


# A run's labels and notes (``services.run_edit`` checks them; the column keeps the limits).
TAG_PATTERN = r"^[A-Za-z0-9_.:-]{1,40}$"
TAG_MAX_LENGTH = 40
MAX_TAGS = 20
NOTES_MAX_LENGTH = 10_000

ACTIVE_STATUSES = (RunStatus.RUNNING, RunStatus.PAUSED)
FINISHED_STATUSES = (
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.STOPPED,
    RunStatus.CANCELLED,
)


class Run(Leased):
    """One training job: a trainer, its validated config, and where it is in its lifecycle.

    queued -> running <-> paused -> completed | failed | stopped; a queued run can be
    cancelled before it starts. Who holds it is the lease (``runs.leases``: worker, expiry,
    attempts), renewed by the worker's heartbeat; transitions are compare-and-swap updates in
    ``services``.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs"
    )
    name = models.CharField(max_length=120, blank=True)
    trainer = models.CharField(max_length=64)
    config = models.JSONField(help_text="validated against the trainer's config schema")
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    priority = models.SmallIntegerField(default=0, help_text="higher runs first")
    step = models.BigIntegerField(default=0)
    total_steps = models.BigIntegerField(default=0)
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="the run this was cloned or forked from",
    )
    start_checkpoint = models.ForeignKey(
        "Checkpoint",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="forks",
        help_text="a fork starts from this checkpoint",
    )

    tags = ArrayField(
        models.CharField(max_length=TAG_MAX_LENGTH),
        default=list,
        blank=True,
        help_text=f"at most {MAX_TAGS} labels of 1-{TAG_MAX_LENGTH} characters [A-Za-z0-9_.:-]",
    )
    notes = models.TextField(blank=True, max_length=NOTES_MAX_LENGTH)
    # How it ended, its best step and the checkpoint to use, written with the end
    # (``services.summaries``); {} until then, and again once it is requeued.
    summary = models.JSONField(
        default=dict, blank=True, help_text="how the run ended (set when it ends)"
    )
    # Seen (read-only) by every signed-in user when set; changed by ``services.sharing`` only.
    public = models.BooleanField(
        default=False, help_text="every signed-in user may watch it (read-only)"
    )

    # Not a column: set on runs a list shows (``selectors.run_list``), 1 = trains next.
    queue_position: int | None = None

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="run_owner_created"),
            models.Index(fields=["status", "-priority", "created_at"], name="run_queue_order"),
            # ``?tag=`` filters with array containment, which a GIN index answers.
            GinIndex(fields=["tags"], name="run_tags"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or f"{self.trainer} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


# The Django group whose members are viewers: they see runs shared with them (or public) and
# may not queue runs of their own (``runs.access``, docs/security.md). Created by a migration.
VIEWERS_GROUP = "viewers"


class RunShare(models.Model):
    """A run shared read-only with one user or one group (exactly one of the two)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="run_shares",
    )
    group = models.ForeignKey(
        "auth.Group", on_delete=models.CASCADE, null=True, blank=True, related_name="run_shares"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="run_share_one_target",
            ),
            models.UniqueConstraint(
                fields=["run", "user"],
                condition=models.Q(user__isnull=False),
                name="run_share_unique_user",
            ),
            models.UniqueConstraint(
                fields=["run", "group"],
                condition=models.Q(group__isnull=False),
                name="run_share_unique_group",
            ),
        ]

    def __str__(self) -> str:
        target = f"user {self.user}" if self.user_id else f"group {self.group}"
        return f"run {self.run_id} shared with {target}"


# A run is held while it trains or is paused; the reaper puts it back in the queue.
RUN_LEASE = LeaseTerms(
    model=Run,
    state_field="status",
    held=(RunStatus.RUNNING, RunStatus.PAUSED),
    requeued=RunStatus.QUEUED,
    failed=RunStatus.FAILED,
)


class CommandKind(models.TextChoices):
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    SAVE = "save"
    BACKUP = "backup"
    SAMPLE = "sample"
    EVALUATE = "evaluate"
    CANCEL = "cancel"


class CommandState(models.TextChoices):
    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"


class Command(models.Model):
    """Something asked of a run, with who asked, when, and how it ended."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="commands")
    kind = models.CharField(max_length=16, choices=CommandKind.choices)
    params = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=16, choices=CommandState.choices, default=CommandState.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["run", "state"], name="command_run_state")]

    def __str__(self) -> str:
        return f"{self.kind} ({self.state})"


class CheckpointKind(models.TextChoices):
    PERIODIC = "periodic"
    MANUAL = "manual"
    BACKUP = "backup"
    FINAL = "final"
    BEST = "best"


def checkpoint_path(instance: Checkpoint, filename: str) -> str:
    return f"runs/{instance.run_id}/checkpoints/{filename}"


class Checkpoint(models.Model):
    """A file of the full training state at a step, kept in Django's storage."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=CheckpointKind.choices)
    file = models.FileField(upload_to=checkpoint_path, max_length=300)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "-step", "-id"]
        indexes = [models.Index(fields=["run", "-step"], name="checkpoint_run_step")]

    def __str__(self) -> str:
        return f"{self.kind} checkpoint of run {self.run_id} at step {self.step}"


class UserQuota(models.Model):
    """Per-user limits; users without a row get the defaults from settings."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="run_quota"
    )
    max_running = models.PositiveSmallIntegerField(help_text="runs training at once")
    max_queued = models.PositiveSmallIntegerField(help_text="runs waiting in the queue at once")
    max_storage_bytes = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="bytes of stored checkpoints over all their runs "
        "(empty: the site's KEISEI_DEFAULT_MAX_STORAGE_BYTES)",
    )

    def __str__(self) -> str:
        return f"quota of {self.user}: {self.max_running} running, {self.max_queued} queued"


class GameSource(models.TextChoices):
    SAMPLE = "sample"
    EVALUATION = "evaluation"
    SELF_PLAY = "selfplay"
    LEAGUE = "league"
    HUMAN = "human"  # a signed-in user against a checkpoint, on the play page


class GameRecord(models.Model):
    """One finished Shogi game: who played, how it ended, every move (USI), KIF and CSA."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="game_records")
    source = models.CharField(max_length=16, choices=GameSource.choices)
    step = models.BigIntegerField(default=0, help_text="the run's step when it was played")
    checkpoint = models.ForeignKey(
        "Checkpoint",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="game_records",
        help_text="the run's checkpoint that played it, where one did (charts open its games)",
    )
    black = models.CharField(max_length=200)
    white = models.CharField(max_length=200)
    result = models.CharField(max_length=16, help_text="black_win, white_win, draw, unfinished")
    reason = models.CharField(max_length=32, blank=True)
    plies = models.PositiveIntegerField()
    start_sfen = models.CharField(max_length=200)
    moves = models.JSONField(default=list, help_text="USI moves in order")
    kif = models.TextField(blank=True)
    csa = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["run", "-created_at"], name="game_record_run_created"),
            # the game nearest a step of a chart (charts open games)
            models.Index(fields=["run", "step"], name="game_record_run_step"),
        ]

    def __str__(self) -> str:
        return f"{self.black} vs {self.white}: {self.result} in {self.plies}"


class EvaluationState(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Evaluation(Leased):
    """A match of a run's network against an opponent: W/D/L and Elo with its interval."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="evaluations")
    step = models.BigIntegerField(default=0)
    opponent = models.CharField(max_length=300)
    games = models.PositiveIntegerField(default=0)
    wins = models.PositiveIntegerField(default=0)
    draws = models.PositiveIntegerField(default=0)
    losses = models.PositiveIntegerField(default=0)
    win_rate = models.FloatField(default=0.0)
    elo = models.FloatField(null=True, blank=True)
    elo_low = models.FloatField(null=True, blank=True)
    elo_high = models.FloatField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # An evaluation job (``services.evaluation_request``) names the checkpoints it plays and
    # goes pending -> running -> done | failed; a trainer's own evaluations are done at once.
    checkpoint = models.ForeignKey(
        "Checkpoint",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="evaluations",
        help_text="the checkpoint that played (evaluation jobs)",
    )
    opponent_checkpoint = models.ForeignKey(
        "Checkpoint",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="evaluations_as_opponent",
        help_text="the checkpoint it played against; empty for the random mover",
    )
    state = models.CharField(
        max_length=16, choices=EvaluationState.choices, default=EvaluationState.DONE
    )
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.run_id} vs {self.opponent}: {self.wins}/{self.draws}/{self.losses}"


# An evaluation job is held while it plays; the reaper makes it pending again.
EVALUATION_LEASE = LeaseTerms(
    model=Evaluation,
    state_field="state",
    held=(EvaluationState.RUNNING,),
    requeued=EvaluationState.PENDING,
    failed=EvaluationState.FAILED,
)


class Preset(models.Model):
    """A named config a user can start runs from; shared ones are offered to everyone.

    Trainers' own presets (``Trainer.presets``) are offered too, without a row.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presets"
    )
    name = models.CharField(max_length=80)
    trainer = models.CharField(max_length=64)
    config = models.JSONField(help_text="the full config, validated when saved")
    description = models.CharField(max_length=300, blank=True)
    shared = models.BooleanField(default=False, help_text="offered to every user")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["trainer", "name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "trainer", "name"], name="preset_owner_name")
        ]

    def __str__(self) -> str:
        return f"{self.trainer}/{self.name}"


class LeagueEntry(models.Model):
    """A player in the league: its Elo rating and record over every league match.

    Either a checkpoint (best and final checkpoints of trainers that play games enter on their
    own, ``services.league_consider``; an entry whose file cannot be played any more is retired
    with the reason) or an **anchor**: one of a trainer's built-in players (``builtin``) at the
    fixed rating the trainer states (``Trainer.anchor_ratings``), which matches never move.
    """

    checkpoint = models.OneToOneField(
        Checkpoint, on_delete=models.CASCADE, related_name="league_entry", null=True, blank=True
    )
    trainer = models.CharField(max_length=64, blank=True, help_text="an anchor's trainer")
    builtin = models.CharField(
        max_length=64, blank=True, help_text="an anchor's built-in player (e.g. greedy)"
    )
    rating = models.FloatField(
        default=1000.0, help_text="Elo; a checkpoint starts at 1000, an anchor stays fixed"
    )
    games = models.PositiveIntegerField(default=0)
    wins = models.PositiveIntegerField(default=0)
    draws = models.PositiveIntegerField(default=0)
    losses = models.PositiveIntegerField(default=0)
    entered_at = models.DateTimeField(auto_now_add=True)
    last_played_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True, help_text="still paired in league rounds")
    retired_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-rating", "id"]
        verbose_name_plural = "league entries"
        indexes = [models.Index(fields=["is_active", "-rating"], name="league_entry_rating")]
        constraints = [
            # A checkpoint or an anchor, never both nor neither.
            models.CheckConstraint(
                condition=(
                    models.Q(checkpoint__isnull=False, builtin="", trainer="")
                    | (
                        models.Q(checkpoint__isnull=True)
                        & ~models.Q(builtin="")
                        & ~models.Q(trainer="")
                    )
                ),
                name="league_entry_checkpoint_or_anchor",
            ),
            models.UniqueConstraint(
                fields=["trainer", "builtin"],
                condition=~models.Q(builtin=""),
                name="league_entry_one_anchor_per_player",
            ),
        ]

    def __str__(self) -> str:
        who = f"anchor {self.builtin}" if self.is_anchor else f"checkpoint {self.checkpoint_id}"
        return f"{who}: {self.rating:.0f}"

    @property
    def is_anchor(self) -> bool:
        return bool(self.builtin)


class LeagueMatch(models.Model):
    """A league match between two entries, from ``first``'s side, and what it did to ratings."""

    first = models.ForeignKey(LeagueEntry, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(LeagueEntry, on_delete=models.CASCADE, related_name="+")
    games = models.PositiveIntegerField()
    wins = models.PositiveIntegerField(help_text="games first won")
    draws = models.PositiveIntegerField()
    losses = models.PositiveIntegerField(help_text="games first lost")
    first_rating_before = models.FloatField()
    second_rating_before = models.FloatField()
    rating_change = models.FloatField(help_text="added to first's rating, taken from second's")
    played_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The games of this match kept as records (on each run that played it); matches stored
    # before this link existed have none linked.
    game_records = models.ManyToManyField(GameRecord, blank=True, related_name="league_matches")

    class Meta:
        ordering = ["-played_at", "-id"]
        verbose_name_plural = "league matches"

    def __str__(self) -> str:
        return f"{self.first_id} vs {self.second_id}: {self.wins}/{self.draws}/{self.losses}"
