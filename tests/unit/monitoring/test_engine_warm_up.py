"""A worker process imports torch and every registered trainer as it starts, in the
background: its first job does not pay for it, and its memory does not step up mid-life.
Then it freezes what it loaded, so the cyclic collector stops scanning it. In a fresh
interpreter (this test process has imported torch long ago)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import gc, json, sys
import django
django.setup()
frozen_before = gc.get_freeze_count()
from monitoring.worker_signals import warm_engine
before = "torch" in sys.modules
warm_engine().join(timeout=120)
wanted = ("keisei.shogi.trainer", "keisei.digits.trainer")
print(json.dumps({
    "before": before,
    "torch": "torch" in sys.modules,
    "modules": sorted(m for m in wanted if m in sys.modules),
    "frozen_before": frozen_before,
    "frozen": gc.get_freeze_count(),
}))
"""


def test_a_worker_process_warms_the_engine_in_the_background():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "keisei_site.settings"},
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] is False, "torch was imported before the warm-up: the test proves nothing"
    assert seen["torch"] is True
    assert seen["modules"] == ["keisei.digits.trainer", "keisei.shogi.trainer"]
    assert seen["frozen_before"] == 0 and seen["frozen"] > 100_000  # torch's objects among them
