"""The rules of one run, watching its metric stream inside the worker's reporter.

``run_observer`` is the factory ``AlertsConfig.ready`` registers with
``monitoring.reporter.observer_register``: the reporter hands it the points as they are
ingested (those that arrived since it last looked, in order) and ticks it about once a second,
both on the reporter's observers' thread (the training thread only hands the points over); a
tick is when settings changed on the page are picked up and "no progress" is judged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from alerts import selectors, services
from alerts.rules import Firing, RuleEngine, columns_batch, rules_effective
from monitoring.metric_batches import MetricBatch
from monitoring.reporter import ObservedAlert
from runs.models import Run, RunStatus

log = logging.getLogger(__name__)

RELOAD_SECONDS = 2.0


class RunAlerts:
    """Implements ``monitoring.reporter.MetricObserver`` for one run."""

    def __init__(self, run: Run) -> None:
        self.run_id = run.pk
        self.trainer = run.trainer
        layers, self.stamp = selectors.rules_layers(run=run)
        now = time.monotonic()
        self.engine = RuleEngine.from_settings(
            rules_effective(trainer=self.trainer, layers=layers), now=now
        )
        # observe and tick come from one thread today; the lock keeps the engine safe if not.
        self.lock = threading.Lock()
        self.next_reload = now + RELOAD_SECONDS

    def observe_many(self, batches: Sequence[MetricBatch]) -> Sequence[ObservedAlert]:
        read = [columns_batch(b.keys, b.steps, b.values) for b in batches]
        with self.lock:
            firings = self.engine.observe_batches(read, time.monotonic())
        return [self._alert(f) for f in firings]

    def tick(self) -> Sequence[ObservedAlert]:
        now = time.monotonic()
        if now >= self.next_reload:
            self.next_reload = now + RELOAD_SECONDS
            self._reload(now)
        with self.lock:
            firings = self.engine.tick(now)
        alerts = []
        for firing in firings:
            if firing.rule == "no_progress" and not self._running():
                with self.lock:
                    self.engine.hold(now)  # paused on purpose is not stalled
                continue
            alerts.append(self._alert(firing))
        return alerts

    def close(self) -> None:
        pass

    def _running(self) -> bool:
        return Run.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).exists()

    def _reload(self, now: float) -> None:
        run = Run.objects.filter(pk=self.run_id).first()
        if run is None:
            return
        if run.status != RunStatus.RUNNING:
            with self.lock:
                self.engine.hold(now)  # a pause restarts the no-progress clock
        layers, stamp = selectors.rules_layers(run=run)
        if stamp == self.stamp:
            return
        self.stamp = stamp
        with self.lock:
            self.engine.retune(rules_effective(trainer=self.trainer, layers=layers), now=now)
        log.info("run %s: alert rules retuned", self.run_id)

    def _alert(self, firing: Firing) -> ObservedAlert:
        data = firing.data()
        run_id = self.run_id
        stored: dict[str, Any] = {}

        def record() -> Mapping[str, Any]:
            alert = services.alert_record(run_id=run_id, message=firing.message, data=data)
            stored["alert"] = alert.pk
            return {"alert": alert.pk}

        def pause() -> None:
            reason = services.alert_pause(run_id=run_id, alert_id=stored.get("alert"))
            if reason:
                log.info("run %s: %s", run_id, reason)

        return ObservedAlert(
            message=f"{firing.rule}: {firing.message}",
            data=data,
            record=record,
            after=pause if firing.pause else None,
        )


def run_observer(run_id: int, owner_id: int | None) -> RunAlerts | None:
    """The reporter's factory: the run's rules, or None for a run that is not stored."""
    run = Run.objects.filter(pk=run_id).first()
    return RunAlerts(run) if run is not None else None
