"""`execsvc bench` tick section: the multi-venue tick is reported beside the single-venue one.
No timing is asserted; the benchmark only has to run and report."""

from __future__ import annotations

from execsvc.bench.tick import MULTI_VENUES, bench_worker_tick


def test_tick_reports_the_multi_venue_tick_beside_the_single_venue_one() -> None:
    section = bench_worker_tick(symbols=6, repeats=1, venue_symbols=3)
    names = [figure.name for figure in section.figures]
    assert names == ["tick", "tick, 3 symbols on 1 venue",
                     f"tick, 3 symbols on {len(MULTI_VENUES)} venues + all",
                     f"{len(MULTI_VENUES)} venues + all / 1 venue"]
    assert all(figure.value > 0 for figure in section.figures)
    assert [figure.target is None for figure in section.figures] == [False, True, True, True]
    assert "36 maps" in section.figures[2].note  # 3 symbols x 3 windows x (3 venues + all)
