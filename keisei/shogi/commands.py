"""Parameters of the trainer's own commands (sample, evaluate), validated before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from keisei.trainer import CommandError

P = TypeVar("P", bound=BaseModel)


class SampleParams(BaseModel):
    """Play one game and return its record."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(
        1.0, ge=0.0, le=10.0, description="Policy temperature (0: always the most likely move)"
    )
    opponent: str = Field(
        "self",
        min_length=1,
        max_length=1000,
        description="self (the policy on both sides), a built-in player (random, greedy: "
        "1-ply material, two_ply: 2-ply material minimax), latest (this run's newest "
        "checkpoint), or a checkpoint file path",
    )
    agent_color: Literal["black", "white"] = Field(
        "black", description="The colour the trained policy plays against the opponent"
    )
    max_plies: int | None = Field(
        None, ge=1, le=4096, description="Ply cap of the game (default: the run's max_plies)"
    )
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Seed for move sampling")


class EvaluateParams(BaseModel):
    """Play a match against an opponent and report W/D/L and Elo."""

    model_config = ConfigDict(extra="forbid")

    opponent: str = Field(
        "random",
        min_length=1,
        max_length=1000,
        description="a built-in player (random, greedy: 1-ply material, two_ply: 2-ply "
        "material minimax), latest (this run's newest checkpoint), or a checkpoint file path "
        "(absolute, or relative to the workdir)",
    )
    games: int = Field(100, ge=2, le=2000, description="Games in the match (colours alternate)")
    temperature: float = Field(
        0.0, ge=0.0, le=10.0, description="Policy temperature of both networks (0: argmax)"
    )
    max_plies: int | None = Field(
        None, ge=1, le=4096, description="Ply cap per game; reaching it is a draw"
    )
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Seed for move sampling")


def parse_params(model: type[P], params: Mapping[str, Any]) -> P:
    """Validate command parameters; CommandError names each bad field and why."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors()
        )
        raise CommandError(f"bad parameters: {reasons}") from exc
