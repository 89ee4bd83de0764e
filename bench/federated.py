"""What does per-client reporting cost a federated run? digits FedAvg through the portal's path.

Both sides train the same federated ``digits`` run (8 clients, every client chosen each round,
3 local epochs, no drops or stragglers so no simulated waits count) with the same seed, in
this process, as a worker runs it: a Run queued with ``run_queue`` and claimed with
``run_claim_next`` (a real lease on a real row in the bench's own PostgreSQL), a real
``runs.leases.Heartbeat``, ``RunCallbacks`` (the monitoring reporter: metric points COPYed to
PostgreSQL, timeline events such as each round's start and end, live messages through the
channel layer's real Redis) and ``CommandControl``. The two sides differ in one thing:

- on: ``DigitsTrainer.report_clients`` set (what users get): every client's updates through
  ``Callbacks.on_live`` (relayed as ``clients`` messages at most every
  ``KEISEI_LIVE_CLIENTS_SECONDS``) and five metric points per client per round;
- off: ``report_clients`` unset: neither (the round events and the aggregate stay).

Measurements alternate (on first, then off first, ...) so both share the machine's noise.
Throughput is training examples (each client's fit samples times its local epochs, every
round) over the wall time of ``train()`` and the reporter's close. Prints one JSON object as its
last line: ``ratio`` (median over the pairs of on/off; goal >= 0.97), ``pair_ratios``,
``ratio_cpu`` (the same by this process's CPU time, reporter threads included: steadier than
wall time when other work shares the cores, blind to PostgreSQL's and Redis's own CPU),
``examples_per_s_on`` and ``examples_per_s_off`` (medians), ``rounds``, ``clients``,
``repeats``, ``client_messages`` (``clients`` messages the reporter published in the last "on"
run), ``client_updates`` (the engine's updates in it), and where the time goes (medians over
the runs, in seconds): ``run_s_on`` (an "on" run's wall time), ``store_s_on`` and
``store_s_off`` (the training thread storing points: COPY and rollups, about once a second),
``on_live_s`` (in ``RunCallbacks.on_live``, the relay included).

    .venv/bin/python bench/federated.py            # 40 rounds, 7 pairs: about 3 minutes idle
    .venv/bin/python bench/federated.py --quick    # 10 rounds, 3 pairs: about a minute
"""

from __future__ import annotations

import os

# Before torch loads: spinning OpenMP threads collapse on shared cores (see keisei/shogi).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json
import statistics
import time
from typing import Any

from _stack import bench_user, django_stack, worker_path  # noqa: E402

WORKER = "bench-federated:1"
CLIENTS = 8
LOCAL_EPOCHS = 3


def federated_config(rounds: int) -> dict[str, Any]:
    return {
        "mode": "federated",
        "epochs": rounds,
        "clients": CLIENTS,
        "local_epochs": LOCAL_EPOCHS,
        "batch_size": 32,
        "client_fraction": 1.0,
        "dropout_probability": 0.0,
        "straggler_probability": 0.0,
        "seed": 1,
        "device": "cpu",
    }


def train_once(owner, config: dict[str, Any], *, report_clients: bool) -> tuple[float, dict]:
    """Examples per second of one federated run as a worker trains it, the close included;
    the counts also give the examples per second of this process's CPU time."""
    from keisei.digits.trainer import DigitsTrainer
    from monitoring import live, reporter
    from runs import services
    from runs.execution import RunCallbacks
    from runs.models import RunStatus

    class CountingCallbacks(RunCallbacks):
        """RunCallbacks unchanged, with the client updates counted and timed."""

        updates = 0
        live_s = 0.0

        def on_live(self, kind: str, data) -> None:
            self.updates += 1
            started = time.perf_counter()
            super().on_live(kind, data)
            self.live_s += time.perf_counter() - started

    services.run_queue(owner=owner, trainer="digits", config=config)
    run = services.run_claim_next(worker=WORKER)
    if run is None:
        raise SystemExit("the queued run could not be claimed")
    published = []
    real_publish = live.publish_clients

    def counting_publish(run_id, round_, updates) -> None:
        published.append(len(updates))
        real_publish(run_id, round_, updates)

    # The time the training thread spends storing points (COPY and rollups, about once a
    # second): where the per-client points cost.
    storing = [0.0]
    real_store = reporter.metrics_record

    def timed_store(**kwargs) -> None:
        started = time.perf_counter()
        real_store(**kwargs)
        storing[0] += time.perf_counter() - started

    live.publish_clients = counting_publish
    reporter.metrics_record = timed_store
    try:
        callbacks = CountingCallbacks(run, WORKER)
        with worker_path(run, callbacks, WORKER) as (workdir, control):
            trainer = DigitsTrainer(
                DigitsTrainer.parse_config(config),
                workdir=workdir,
                callbacks=callbacks,
                control=control,
            )
            trainer.report_clients = report_clients
            examples = config["epochs"] * LOCAL_EPOCHS * sum(len(s.y_fit) for s in trainer.shards)
            started, cpu_started = time.perf_counter(), time.process_time()
            trainer.train()
            callbacks.close()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
    finally:
        live.publish_clients = real_publish
        reporter.metrics_record = real_store
    services.run_finish(run_id=run.pk, worker=WORKER, status=RunStatus.COMPLETED)
    counts = {
        "messages": len(published),
        "updates": callbacks.updates,
        "cpu": examples / cpu,
        "live_s": callbacks.live_s,
        "store_s": storing[0],
        "wall_s": elapsed,
    }
    return examples / elapsed, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 rounds, 3 pairs")
    parser.add_argument("--rounds", type=int, help="rounds per run (default 40; quick 10)")
    parser.add_argument("--repeats", type=int, help="on/off pairs (default 7; quick 3)")
    opts = parser.parse_args()
    rounds = opts.rounds or (10 if opts.quick else 40)
    repeats = opts.repeats or (3 if opts.quick else 7)

    with django_stack():
        import torch

        torch.set_num_threads(1)
        owner, _ = bench_user("bench-federated")
        config = federated_config(rounds)
        train_once(owner, federated_config(2), report_clients=True)  # warm-up
        on, off, pair_ratios, cpu_ratios, seen = [], [], [], [], {}
        store_s: dict[bool, list[float]] = {True: [], False: []}
        live_s: list[float] = []
        run_s: list[float] = []
        for pair in range(repeats):
            # Alternate which side goes first, so a trend in the load favours neither.
            order = (True, False) if pair % 2 == 0 else (False, True)
            speeds, cpu_speeds = {}, {}
            for report in order:
                speeds[report], counts = train_once(owner, config, report_clients=report)
                cpu_speeds[report] = counts["cpu"]
                store_s[report].append(counts["store_s"])
                if report:
                    seen = counts
                    live_s.append(counts["live_s"])
                    run_s.append(counts["wall_s"])
            on.append(speeds[True])
            off.append(speeds[False])
            pair_ratios.append(speeds[True] / speeds[False])
            cpu_ratios.append(cpu_speeds[True] / cpu_speeds[False])
            print(
                f"pair {pair + 1}/{repeats}: on {speeds[True]:.0f} ex/s, off {speeds[False]:.0f} "
                f"ex/s, ratio {pair_ratios[-1]:.3f} (CPU time: {cpu_ratios[-1]:.3f})",
                flush=True,
            )
    print(
        json.dumps(
            {
                "ratio": round(statistics.median(pair_ratios), 4),
                "pair_ratios": [round(r, 4) for r in pair_ratios],
                "ratio_cpu": round(statistics.median(cpu_ratios), 4),
                "examples_per_s_on": round(statistics.median(on), 1),
                "examples_per_s_off": round(statistics.median(off), 1),
                "rounds": rounds,
                "clients": CLIENTS,
                "repeats": repeats,
                "client_messages": seen.get("messages", 0),
                "client_updates": seen.get("updates", 0),
                "run_s_on": round(statistics.median(run_s), 3),
                "store_s_on": round(statistics.median(store_s[True]), 3),
                "store_s_off": round(statistics.median(store_s[False]), 3),
                "on_live_s": round(statistics.median(live_s), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
