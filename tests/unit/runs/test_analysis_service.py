"""runs.services.analysis's pieces on their own: the LRU of loaded networks, the square names
of the policy heatmap, Black's win probability from the side to move's."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from runs.services import analysis


def checkpoint(pk: int, sha: str = "a" * 64) -> SimpleNamespace:
    return SimpleNamespace(pk=pk, sha256=sha)


@pytest.fixture
def loads(monkeypatch) -> list[int]:
    """Each load is recorded instead of reading a file (the loader is tested end to end in
    tests/integration/runs/test_analysis_api.py)."""
    seen: list[int] = []

    def load(c):
        seen.append(c.pk)
        return f"network {c.pk} {c.sha256[:1]}"

    monkeypatch.setattr(analysis, "_load", load)
    return seen


def test_the_least_recently_used_network_is_dropped_first(loads):
    kept = analysis._Analysers(size=2)
    one, two, three = checkpoint(1), checkpoint(2), checkpoint(3)
    assert kept.get(one) == "network 1 a" and kept.get(two) == "network 2 a"
    kept.get(one)  # used again: two is now the oldest
    kept.get(three)
    assert one in kept and three in kept and two not in kept
    kept.get(one)
    kept.get(two)
    assert loads == [1, 2, 3, 2]


def test_a_checkpoint_whose_file_changed_is_loaded_again(loads):
    kept = analysis._Analysers(size=4)
    assert kept.get(checkpoint(1, "a" * 64)) == "network 1 a"
    assert kept.get(checkpoint(1, "b" * 64)) == "network 1 b"
    assert loads == [1, 1]


def test_requests_at_once_for_one_checkpoint_load_it_once(monkeypatch):
    started, release, seen = threading.Event(), threading.Event(), []

    def slow_load(c):
        seen.append(c.pk)
        started.set()
        assert release.wait(10)
        return "network"

    monkeypatch.setattr(analysis, "_load", slow_load)
    kept = analysis._Analysers(size=2)
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(kept.get(checkpoint(7)))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    assert started.wait(10)
    release.set()
    for thread in threads:
        thread.join(10)
    assert answers == ["network"] * 4 and seen == [7]


def test_policy_squares_are_named_as_usi_squares():
    mass = [0.0] * 81
    mass[0], mass[8], mass[5 * 9 + 6], mass[80] = 0.1, 0.2, 0.3, 0.4  # 1a, 1i, 6g, 9i
    squares = analysis._policy_by_square(mass)
    assert len(squares) == 81
    assert (squares["1a"], squares["1i"], squares["6g"], squares["9i"]) == (0.1, 0.2, 0.3, 0.4)


def test_blacks_win_probability_is_the_complement_when_white_moves():
    assert analysis._black_win_probability({"win_probability": 0.7, "side_to_move": "black"}) == 0.7
    white = analysis._black_win_probability({"win_probability": 0.7, "side_to_move": "white"})
    assert white == pytest.approx(0.3)
