"""The liquidation benchmark runs end to end on the embedded store and prints its figures."""

from __future__ import annotations

import re

import pytest

from execsvc.bench.liquidations import bench_liquidations, replay_bands, synthetic_events


def test_benchmark_prints_scoring_and_storing_figures(capsys: pytest.CaptureFixture) -> None:
    bench_liquidations(None, events=300, repeats=2)
    out = capsys.readouterr().out
    assert re.search(r"score_event median [\d.]+ us per event; the band lookup alone "
                     r"[\d.]+ us \(ratio [\d.]+\)", out), out
    assert re.search(r"add \(dedupe \+ stream \+ score totals \+ trim\) [\d,]+ events/s; "
                     r"plain XADD [\d,]+/s \(ratio [\d.]+\); duplicates refused [\d,]+/s",
                     out), out


def test_synthetic_events_lie_around_the_map_price() -> None:
    bands = replay_bands()
    events = synthetic_events(bands, 200)
    assert len({e.event_id for e in events}) == 200
    assert all(abs(e.price / bands.price - 1) <= 0.0301 for e in events)
    assert {e.side for e in events} == {"long", "short"}
