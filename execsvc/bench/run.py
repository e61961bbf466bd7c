"""`execsvc bench`: benchmark figures, each against a baseline measured in the same run and
next to its target (`execsvc.bench.figures`); missed targets are marked.

- `map`: `build_map` against its floor (`execsvc.bench.map_build`).
- `documents`: document encoding against `build_map` (`execsvc.bench.map_build`).
- `slicing`: plan, market and TWAP slippage on recorded books (`execsvc.bench.slicing`).
- `stop`: `/suggest/stop` under concurrent load against `/healthz` (`execsvc.bench.http`).
- `load`: `/healthz`, `/readyz`, `/suggest/stop` and `/map` at 16, 64 and 256 concurrent
  clients on a real Redis: throughput, p50/p99, errors, ratio to `/healthz`
  (`execsvc.bench.http`).
- `stalls`: `/healthz` p99 while the worker recomputes and slices are planned, against a quiet
  server (`execsvc.bench.stalls`).
- `paper`: paper orders per second end to end and an account rebuild (`execsvc.bench.paper`),
  on EXECSVC_REDIS_URL or the in-process store.
- `liquidations`: scoring one realised liquidation against a map (against the band lookup
  alone) and storing it (against a plain XADD), `execsvc.bench.liquidations`.
- `tick`: one worker tick of 1,000 symbols x 3 windows on one core against a Redis server of
  its own, and 100 symbols on three venues with their sum beside 100 on one venue
  (`execsvc.bench.tick`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from execsvc.bench.figures import Section, render, report_json, summary
from execsvc.settings import Settings


@dataclass(frozen=True, slots=True)
class BenchOptions:
    repeats: int = 30
    tick_symbols: int = 1000
    http_seconds: float = 5.0


def _map(options: BenchOptions) -> list[Section]:
    from execsvc.bench.map_build import bench_map_build

    return [bench_map_build(options.repeats)]


def _documents(options: BenchOptions) -> list[Section]:
    from execsvc.bench.map_build import bench_documents

    return [bench_documents(max(options.repeats, 10) * 3)]


def _slicing(options: BenchOptions) -> list[Section]:
    from execsvc.bench.slicing import bench_slicing

    return [bench_slicing()]


def _stop(options: BenchOptions) -> list[Section]:
    from execsvc.bench.http import bench_suggest_stop

    return [bench_suggest_stop(seconds=options.http_seconds)]


def _load(options: BenchOptions) -> list[Section]:
    from execsvc.bench.http import bench_load

    return [bench_load(seconds=options.http_seconds)]


def _stalls(options: BenchOptions) -> list[Section]:
    from execsvc.bench.stalls import bench_stalls

    return [bench_stalls(seconds=options.http_seconds)]


def _paper(options: BenchOptions) -> list[Section]:
    from execsvc.bench.paper import bench_paper, paper_section

    settings = Settings()
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    figures = bench_paper(redis_url,
                          policy_path=Path(settings.policies_dir) / settings.policy_file)
    return [paper_section(figures, redis_url)]


def _liquidations(options: BenchOptions) -> list[Section]:
    from execsvc.bench.liquidations import bench_liquidations

    settings = Settings()
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    return bench_liquidations(redis_url)


def _tick(options: BenchOptions) -> list[Section]:
    from execsvc.bench.tick import bench_worker_tick

    return [bench_worker_tick(options.tick_symbols, repeats=max(3, options.repeats // 10))]


BENCHMARKS: dict[str, Callable[[BenchOptions], list[Section]]] = {
    "map": _map, "documents": _documents, "slicing": _slicing, "stop": _stop, "load": _load,
    "stalls": _stalls, "paper": _paper, "liquidations": _liquidations, "tick": _tick,
}
"""Every benchmark by name, in the order `execsvc bench` runs them."""


def run_all(options: BenchOptions, only: Sequence[str] = (), as_json: bool = False) -> int:
    """Run the benchmarks (`only` those named), printing each section as it completes (or
    one JSON document at the end); returns how many figures missed their target."""
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown:
        raise ValueError(f"unknown benchmark {', '.join(unknown)}; choose from "
                         f"{', '.join(BENCHMARKS)}")
    sections: list[Section] = []
    for name, bench in BENCHMARKS.items():
        if only and name not in only:
            continue
        for section in bench(options):
            sections.append(section)
            if not as_json:
                print(render(section), flush=True)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report_json(sections), option=orjson.OPT_INDENT_2))
        sys.stdout.write("\n")
    else:
        print(summary(sections))
    return len(report_json(sections)["missed"])
