"""How fast does an alert reach a watcher, and what do the rules cost ingestion? (issue 17)

On embedded PostgreSQL and Redis with a real Daphne (a subprocess, as in production):

- ``alert_p95_ms``: a WebSocket client subscribed to a run (``/ws/runs/<id>/``, token auth);
  this process ingests the run's points through the worker's reporter
  (``monitoring.reporter.Reporter``, with the alerts app's rules registered as in a worker),
  and for each trial a healthy point, then a pathological one (a NaN value loss). The delay is
  from just before that point is handed to ``on_metrics`` to the ``alert`` message's arrival
  on the socket (one clock: both ends are in this process). Goal: p95 <= 1000 ms.
- ``ingest_ratio_with_rules``: points per second through ``Reporter.on_metrics`` (13 keys a
  call, shogi-ppo's, healthy values, the COPY flushes and the final write included) with 20
  rules watching the run against none, in pairs whose order alternates; the median of the
  pairs' ratios. Goal: >= 0.95. ``alerts_during_ingest`` must be 0 (healthy data).
  ``ingest_cpu_ratio_with_rules`` is the same ratio by this process's CPU time (its threads,
  PostgreSQL's work excluded): what the rules cost, less swayed by other processes.

Prints one JSON object as its last line.

    .venv/bin/python bench/alerts.py            # under a minute when idle
    .venv/bin/python bench/alerts.py --quick    # about 15 seconds
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import queue
import statistics
import threading
import time
from typing import Any

from _stack import bench_user, django_stack, percentile
from fanout import start_daphne

KEYS = (
    "losses/policy_loss",
    "losses/value_loss",
    "losses/entropy",
    "losses/approx_kl",
    "losses/clip_fraction",
    "losses/grad_norm",
    "losses/explained_variance",
    "time/positions_per_s",
    "charts/win_rate",
    "charts/mean_game_length",
    "charts/games_finished",
    "charts/truncation_rate",
    "charts/learning_rate",
)
HEALTHY = {
    "losses/policy_loss": 0.05,
    "losses/value_loss": 0.4,
    "losses/entropy": 3.0,
    "losses/approx_kl": 0.01,
    "losses/clip_fraction": 0.1,
    "losses/grad_norm": 0.5,
    "losses/explained_variance": 0.3,
    "time/positions_per_s": 600.0,
    "charts/win_rate": 0.5,
    "charts/mean_game_length": 120.0,
    "charts/games_finished": 40.0,
    "charts/truncation_rate": 0.2,
    "charts/learning_rate": 0.001,
}


def healthy(step: int) -> dict[str, float]:
    """Every key near its level with a little wobble (no rule may fire on it)."""
    wobble = 1.0 + 0.02 * math.sin(step)
    return {key: value * wobble for key, value in HEALTHY.items()}


def twenty_rules() -> list[Any]:
    """The eight rules with their defaults, and twelve more on other keys."""
    from alerts.rules import rule_build, rule_defaults, rules_effective

    rules = [
        rule_build(name, {**s, "enabled": True}, now=time.monotonic())
        for name, s in rules_effective(trainer="shogi-ppo").items()
    ]
    extra = [
        ("value_loss_blowup", {"key": key})
        for key in (
            "losses/policy_loss",
            "losses/entropy",
            "losses/approx_kl",
            "losses/clip_fraction",
            "losses/grad_norm",
            "losses/explained_variance",
        )
    ] + [
        ("throughput_drop", {"key": "charts/mean_game_length"}),
        ("throughput_drop", {"key": "charts/games_finished"}),
        ("kl_spike", {"key": "losses/grad_norm", "target": 5.0}),
        ("clip_stuck", {"key": "charts/truncation_rate", "bound": 0.9}),
        ("win_rate_drop", {"key": "charts/win_rate"}),
        ("nonfinite_loss", {"prefix": "charts/"}),
    ]
    rules += [rule_build(name, {**rule_defaults(name), **params}) for name, params in extra]
    assert len(rules) == 20, len(rules)
    return rules


class Watcher:
    """A WebSocket client on its own thread: the arrival time of each ``alert`` message."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.alerts: queue.SimpleQueue[tuple[float, dict]] = queue.SimpleQueue()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.thread.start()
        if not self.ready.wait(60):
            raise RuntimeError("the watcher did not connect")

    async def _main(self) -> None:
        import websockets

        headers = {"Authorization": f"Token {self.token}"}
        async with websockets.connect(self.url, additional_headers=headers) as ws:
            while not self.stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                arrived = time.perf_counter()
                msg = json.loads(raw)
                if msg["type"] == "connected":
                    self.ready.set()
                elif msg["type"] == "alert":
                    self.alerts.put((arrived, msg))


def alert_latency(base: str, owner: Any, token: str, trials: int) -> dict[str, Any]:
    from monitoring.reporter import Reporter
    from runs.models import Run, RunStatus

    run = Run.objects.create(owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.RUNNING)
    watcher = Watcher(f"{base}/ws/runs/{run.pk}/", token)
    reporter = Reporter(run_id=run.pk, owner_id=owner.pk, actor="worker:bench")
    delays = []
    step = 0
    try:
        for _ in range(trials):
            step += 1
            reporter.on_metrics(step, healthy(step))  # re-arms the NaN rule
            step += 1
            bad = {**healthy(step), "losses/value_loss": float("nan")}
            started = time.perf_counter()
            reporter.on_metrics(step, bad)
            arrived, msg = watcher.alerts.get(timeout=30)
            assert msg["data"]["rule"] == "nonfinite_loss" and msg["data"]["step"] == step, msg
            delays.append((arrived - started) * 1000)
    finally:
        reporter.close()
        watcher.stop.set()
        watcher.thread.join(10)
    return {
        "alert_p95_ms": round(percentile(delays, 95), 1),
        "alert_p50_ms": round(statistics.median(delays), 1),
        "alert_max_ms": round(max(delays), 1),
        "alert_trials": len(delays),
    }


def ingest_once(owner: Any, calls: int, *, rules: bool) -> tuple[float, float, int]:
    """Points per second through one reporter, by the wall clock and by this process's CPU
    time (its threads, not PostgreSQL's); and the alerts fired meanwhile."""
    from alerts.models import Alert
    from alerts.observer import RunAlerts
    from alerts.rules import RuleEngine
    from monitoring import reporter as reporter_module
    from runs.models import Run, RunStatus

    run = Run.objects.create(owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.RUNNING)

    def factory(run_id: int, owner_id: int | None) -> RunAlerts:
        observer = RunAlerts(Run.objects.get(pk=run_id))
        observer.engine = RuleEngine(twenty_rules())
        return observer

    saved = list(reporter_module._observer_factories)
    reporter_module._observer_factories[:] = [factory] if rules else []
    try:
        reporter = reporter_module.Reporter(run_id=run.pk, owner_id=owner.pk, actor="worker:bench")
        started, cpu = time.perf_counter(), time.process_time()
        for step in range(1, calls + 1):
            reporter.on_metrics(step, healthy(step))
        reporter.close()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        reporter_module._observer_factories[:] = saved
    points = calls * len(KEYS)
    return points / seconds, points / cpu, Alert.objects.filter(run=run).count()


def ingest_ratio(owner: Any, pairs: int, calls: int) -> dict[str, Any]:
    ingest_once(owner, min(calls, 500), rules=True)  # warm up (imports, connections)
    # As a worker does once its engine is imported (monitoring/worker_signals.py): without it,
    # a full collection of this process's whole heap lands in some runs and not others.
    gc.freeze()
    ratios, cpu_ratios, with_rules, without, fired = [], [], [], [], 0
    for pair in range(pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        rates, cpu_rates = {}, {}
        for rules in order:
            rates[rules], cpu_rates[rules], alerts = ingest_once(owner, calls, rules=rules)
            fired += alerts
        with_rules.append(rates[True])
        without.append(rates[False])
        ratios.append(rates[True] / rates[False])
        cpu_ratios.append(cpu_rates[True] / cpu_rates[False])
    return {
        "ingest_ratio_with_rules": round(statistics.median(ratios), 3),
        "ingest_pair_ratios": [round(r, 3) for r in ratios],
        "ingest_cpu_ratio_with_rules": round(statistics.median(cpu_ratios), 3),
        "ingest_points_per_s_with_rules": round(statistics.median(with_rules)),
        "ingest_points_per_s_without": round(statistics.median(without)),
        "ingest_calls": calls,
        "ingest_keys_per_call": len(KEYS),
        "rules_active": 20,
        "alerts_during_ingest": fired,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run, under a minute")
    opts = parser.parse_args()
    trials = 30 if opts.quick else 100
    # A run of 40,000 calls takes over a second, and a pair's ratio still wanders by +-5% on
    # an idle machine (flushes, the other processes): 15 pairs make the median steady.
    pairs, calls = (3, 5000) if opts.quick else (15, 40_000)
    result: dict[str, Any] = {"bench": "alerts", "quick": opts.quick}
    with django_stack() as env:
        owner, token = bench_user("bench-alerts-owner")
        daphne, base = start_daphne(env)
        try:
            result.update(alert_latency(base, owner, token, trials))
        finally:
            daphne.stop()
        result.update(ingest_ratio(owner, pairs, calls))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
