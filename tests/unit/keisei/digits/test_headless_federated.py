"""A federated run headless (``python -m keisei train``): JSON lines carry every client update;
the text printer says one line per client that finishes or drops, never its progress."""

from __future__ import annotations

import json
import re
import subprocess
import sys

ARGS = ["--set", "epochs=2", "--set", "clients=3", "--set", "dropout_probability=0.5"]


def train(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "keisei", "train", "--trainer", "digits", "--preset", "federated"]
        + ARGS
        + ["--workdir", str(tmp_path / "work"), *extra],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_json_lines_carry_every_client_update(tmp_path):
    out = train(tmp_path, "--json").stdout
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    ends = [m["data"] for m in lines if m["type"] == "round" and m["data"]["phase"] == "end"]
    updates = [m for m in lines if m["type"] == "client"]
    assert len(ends) == 2
    assert any(u["state"] == "training" and 0 < u["progress"] < 1 for u in updates)
    for end in ends:
        last = {u["client"]: u["state"] for u in updates if u["round"] == end["round"]}
        assert last == {int(c): o["state"] for c, o in end["clients"].items()}


def test_text_prints_a_line_per_client_end_and_no_progress(tmp_path):
    out = train(tmp_path).stdout
    client_lines = [line for line in out.splitlines() if line.startswith("[client]")]
    assert len(client_lines) == 2 * 3  # every client is chosen each round, and ends once
    pattern = re.compile(
        r"\[client\] round [12] client [0-2] (done: fit loss \S+ \(\d+\), eval loss \S+ "
        r"accuracy \S+ \(\d+\)|dropped: dropped out after \d+% of its local training)$"
    )
    assert all(pattern.match(line) for line in client_lines), client_lines
    assert any("dropped" in line for line in client_lines)
