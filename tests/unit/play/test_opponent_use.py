"""runs.services.analysis.opponent_use on its own: a trainer that does not play games is
refused before any file is read, and a loaded network that cannot play a person is refused
naming the checkpoint (the loader is replaced; the real path is tests/integration/play)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from runs.services import analysis


def checkpoint(trainer: str) -> SimpleNamespace:
    return SimpleNamespace(pk=7, sha256="b" * 64, run=SimpleNamespace(trainer=trainer))


@pytest.fixture
def loads(monkeypatch) -> list[int]:
    seen: list[int] = []

    class OnlyAnalyses:  # a PositionAnalyser, not a GameOpponent
        def analyse(self, sfens, *, top_k=5):
            return []

    def load(c):
        seen.append(c.pk)
        return OnlyAnalyses()

    monkeypatch.setattr(analysis, "_load", load)
    analysis.ANALYSERS.clear()
    yield seen
    analysis.ANALYSERS.clear()


def test_a_trainer_that_does_not_play_is_refused_before_loading(loads):
    with pytest.raises(analysis.AnalysisRejected) as refused:
        analysis.opponent_use(checkpoint=checkpoint("digits"), work=lambda o: "played")
    assert refused.value.fields == {"checkpoint": ["the digits trainer does not play games"]}
    assert loads == []
    assert analysis.trainer_plays_people("shogi-ppo")
    assert not analysis.trainer_plays_people("no-such-trainer")


def test_a_network_that_cannot_play_a_person_is_refused(loads):
    with pytest.raises(analysis.AnalysisRejected) as refused:
        analysis.opponent_use(checkpoint=checkpoint("shogi-ppo"), work=lambda o: "played")
    assert list(refused.value.fields) == ["checkpoint"] and loads == [7]
