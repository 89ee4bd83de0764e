"""Headless training: ``keisei-train train --trainer NAME --config file.toml``.

``python -m keisei train ...`` is the same; ``keisei`` itself is the portal's client.

The same trainers the portal runs, with callbacks that print to the console. Ctrl-C asks the
trainer to stop (it writes a final checkpoint), a second Ctrl-C aborts.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from keisei.devices import config_device
from keisei.interfaces import CheckpointInfo, CommandRequest
from keisei.registry import UnknownTrainer, available_trainers, get_trainer
from keisei.trainer import config_errors
from keisei_fields import read_config_fields


class ConsoleCallbacks:
    """Prints what the trainer reports, one line per report."""

    def __init__(self, *, json_lines: bool = False) -> None:
        self.json_lines = json_lines

    def _emit(self, kind: str, text: str, data: Mapping[str, Any]) -> None:
        if self.json_lines:
            print(json.dumps({"type": kind, **data}, default=str), flush=True)
        else:
            print(f"[{kind}] {text}", flush=True)

    def on_status(self, status: str, message: str = "") -> None:
        self._emit("status", f"{status} {message}".strip(), {"status": status, "message": message})

    def on_progress(self, step: int, total: int) -> None:
        pass  # metrics lines already carry the step

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        text = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        self._emit("metrics", f"step={step} {text}", {"step": step, "metrics": dict(metrics)})

    def on_event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        self._emit(kind, message, {"message": message, "data": dict(data or {})})

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        self._emit(
            "checkpoint",
            f"{info.kind} checkpoint at step {info.step}: {info.path}",
            {"step": info.step, "kind": info.kind, "path": str(info.path)},
        )

    def on_board(self, snapshot: Mapping[str, Any]) -> None:
        pass

    def on_live(self, kind: str, data: Mapping[str, Any]) -> None:
        """Every client update as a JSON line; as text, one line when a client ends its round
        (progress lines would drown the metrics)."""
        if kind != "client":
            return
        if self.json_lines:
            self._emit("client", "", dict(data))
        elif data.get("state") in ("done", "dropped"):
            self._emit("client", client_line(data), data)


def client_line(data: Mapping[str, Any]) -> str:
    """``round 3 client 5 done: fit loss 0.31 (180), eval loss 0.28 accuracy 0.93 (45)``."""
    head = f"round {data.get('round')} client {data.get('client')} {data.get('state')}"
    if data.get("state") == "dropped":
        return f"{head}: {data.get('reason', '')}".rstrip(": ")
    fit, evaluation = data.get("fit") or {}, data.get("eval") or {}
    return (
        f"{head}: fit loss {fit.get('loss', float('nan')):.4g} ({fit.get('samples', 0)}), "
        f"eval loss {evaluation.get('loss', float('nan')):.4g} "
        f"accuracy {evaluation.get('accuracy', float('nan')):.4g} ({evaluation.get('samples', 0)})"
    )


class SignalControl:
    """Turns the first SIGINT/SIGTERM into a stop command."""

    def __init__(self) -> None:
        self._pending: list[CommandRequest] = []
        self._signalled = False

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._signalled:
            raise KeyboardInterrupt
        self._signalled = True
        print("stopping after the current step (again to abort)", file=sys.stderr, flush=True)
        self._pending.append(CommandRequest(id="signal", kind="stop"))

    def poll(self) -> list[CommandRequest]:
        pending, self._pending = self._pending, []
        return pending

    def acknowledge(self, command: CommandRequest) -> None:
        pass

    def complete(self, command: CommandRequest, result: Mapping[str, Any] | None = None) -> None:
        pass

    def fail(self, command: CommandRequest, error: str) -> None:
        print(f"command {command.kind} failed: {error}", file=sys.stderr, flush=True)


def _load_config(args: argparse.Namespace, trainer_cls: Any) -> Any:
    data: dict[str, Any] = {}
    if args.preset:
        if args.preset not in trainer_cls.presets:
            known = ", ".join(sorted(trainer_cls.presets)) or "none"
            raise SystemExit(f"error: unknown preset '{args.preset}' (known: {known})")
        data.update(trainer_cls.presets[args.preset])
    try:
        data.update(read_config_fields(args.config, args.set))
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    try:
        return trainer_cls.parse_config(data)
    except ValidationError as exc:
        lines = [
            f"  {field or '(config)'}: {reason}"
            for field, reasons in config_errors(exc).items()
            for reason in reasons
        ]
        raise SystemExit("error: invalid config\n" + "\n".join(lines)) from exc


def _cmd_train(args: argparse.Namespace) -> int:
    try:
        trainer_cls = get_trainer(args.trainer)
    except UnknownTrainer as exc:
        raise SystemExit(f"error: {exc}") from exc
    config = _load_config(args, trainer_cls)
    control = SignalControl()
    control.install()
    trainer = trainer_cls(
        config,
        workdir=Path(args.workdir),
        callbacks=ConsoleCallbacks(json_lines=args.json),
        control=control,
        device=args.device or config_device(config),
    )
    outcome = trainer.train(resume_from=Path(args.resume) if args.resume else None)
    print(f"[done] {outcome.value}", flush=True)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    try:
        trainer_cls = get_trainer(args.trainer)
    except UnknownTrainer as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(json.dumps(trainer_cls.config_schema(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keisei-train", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model headless")
    train.add_argument(
        "--trainer", required=True, help=f"one of: {', '.join(available_trainers())}"
    )
    train.add_argument("--config", help="a TOML file of config fields")
    train.add_argument("--preset", help="start from a named preset of the trainer")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one field")
    train.add_argument("--workdir", default="var/headless", help="where checkpoints are written")
    train.add_argument("--resume", help="a checkpoint file to resume from")
    train.add_argument(
        "--device", help="cpu or cuda (default: the config's device; auto: cuda when present)"
    )
    train.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    train.set_defaults(func=_cmd_train)

    schema = sub.add_parser("schema", help="print a trainer's config JSON Schema")
    schema.add_argument("--trainer", required=True)
    schema.set_defaults(func=_cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    import os

    # Before torch is imported: spinning OpenMP threads steal cores on a shared host.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
