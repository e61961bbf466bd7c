"""The liquidation benchmark runs end to end on the embedded store and reports its figures."""

from __future__ import annotations

import re

from execsvc.bench.figures import render
from execsvc.bench.liquidations import bench_liquidations, replay_bands, synthetic_events


def test_benchmark_reports_scoring_and_storing_figures() -> None:
    scoring, storing = bench_liquidations(None, events=300, repeats=2)
    out = render(scoring) + "\n" + render(storing)
    assert re.search(r"score_event +[\d.]+ us per event", out), out
    assert re.search(r"the band lookup alone +[\d.]+ us per event", out), out
    assert re.search(r"add \(dedupe \+ stream \+ score totals \+ trim\) +[\d,.]+ events/s",
                     out), out
    assert re.search(r"plain XADD / add +[\d.]+ x", out), out
    assert re.search(r"duplicates refused +[\d,.]+ events/s", out), out
    assert all(f.value > 0 for f in scoring.figures + storing.figures)


def test_synthetic_events_lie_around_the_map_price() -> None:
    bands = replay_bands()
    events = synthetic_events(bands, 200)
    assert len({e.event_id for e in events}) == 200
    assert all(abs(e.price / bands.price - 1) <= 0.0301 for e in events)
    assert {e.side for e in events} == {"long", "short"}
