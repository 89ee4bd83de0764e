"""Debug-only pathologies (``inject_pathology``), so the portal's alert rules can be tested
on a real run: from ``inject_at_update`` on, the run shows the chosen one.

Two are real: ``throughput_drop`` makes each update take several times longer (it waits), and
``stall`` stops reporting anything while still answering commands. The others rewrite the
figures the update reports (the training itself is untouched), as a diverging run would
report them. ``win_rate_drop`` reports a high win rate against the random mover before the
update and a low one after, with no match played.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Rewrites of the reported metrics, from the injection's first update on.
_REWRITES: dict[str, Callable[[dict[str, float], int], None]] = {
    "entropy_collapse": lambda m, _: m.update({"losses/entropy": m["losses/entropy"] * 1e-3}),
    "value_loss_blowup": lambda m, _: m.update(
        {"losses/value_loss": (m["losses/value_loss"] + 1.0) * 1e4}
    ),
    "kl_spike": lambda m, _: m.update({"losses/approx_kl": 1.0}),
    "clip_stuck": lambda m, _: m.update({"losses/clip_fraction": 0.95}),
    "nan_loss": lambda m, _: m.update({"losses/value_loss": float("nan")}),
}

STALL_POLL_SECONDS = 0.1


class PathologyInjector:
    """What the trainer asks between its own steps; a no-op for ``none``."""

    def __init__(self, kind: str, at_update: int) -> None:
        self.kind = kind
        self.at_update = at_update

    def active(self, update: int) -> bool:
        return self.kind != "none" and update >= self.at_update

    def rewrite(self, update: int, metrics: dict[str, float]) -> None:
        """Change ``metrics`` (those of update ``update``, counted from 1) in place."""
        if self.kind == "win_rate_drop":
            metrics["charts/win_rate_vs_random"] = 0.1 if self.active(update) else 0.95
        elif self.active(update) and self.kind in _REWRITES:
            _REWRITES[self.kind](metrics, update)

    def slow_down(self, update: int, elapsed: float) -> float:
        """For ``throughput_drop``: wait four times the update's own time; the seconds waited
        (training time, so the throughput the trainer reports falls for real)."""
        if self.kind != "throughput_drop" or not self.active(update):
            return 0.0
        wait = 4.0 * max(elapsed, 0.01)
        time.sleep(wait)
        return wait

    def stall(self, update: int, answer_commands: Callable[[], bool]) -> bool:
        """For ``stall``: report nothing more, answering commands until a stop; False then."""
        if self.kind != "stall" or not self.active(update):
            return True
        while answer_commands():
            time.sleep(STALL_POLL_SECONDS)
        return False
