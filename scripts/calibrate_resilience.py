"""Calibrate the book resilience of `execsvc.execution.resilience` on the recorded depth diffs.

Run once by a developer (needs the raw recordings, not needed at run time)::

    python scripts/calibrate_resilience.py --raw /work/shared/data/hftbacktest

Rebuilds the Binance USD-M BTCUSDT books of both recordings from their snapshot and depth
diffs (the procedure of `build_replay_books.py`), takes the depth within the study's band of
the mid on each side after every diff, and the taker trades that hit each side (`@trade`,
`m` = buyer is maker: a sell hitting the bids). The rate is fitted on 2024-07-18/19 only and
then scored on 2024-08-08 against the two limits the planner could assume instead: a book
that refills completely between orders (the old assumption) and one that never refills.
The 2024-08-08 rate fitted on its own is printed as a stability check, not used.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from build_replay_books import (
    DATASETS,
    BookState,
    load_recording,
    read_messages,
)

from execsvc.execution.resilience import (
    EventStudy,
    fit_recovery_rate,
    half_life_s,
    recovery_curves,
    recovery_error,
)

FIT_ON, SCORE_ON = "2024-07-18", "2024-08-08"


def side_series(paths: list[Path], band_bps: float) -> dict[str, tuple[np.ndarray, ...]]:
    """Per side (`asks` hit by taker buys, `bids` by taker sells): state times, depth within
    the band (BTC), taker trade times and sizes (BTC)."""
    recording = load_recording(paths)
    book = BookState.from_snapshot(recording.snapshot)
    last = int(recording.snapshot["lastUpdateId"])
    times, asks, bids = [], [], []
    for diff in recording.diffs:
        if diff["u"] < last:
            continue
        book.apply(diff)
        mid = (max(book.bids) + min(book.asks)) / 2.0
        times.append(int(diff["E"]))
        asks.append(sum(v for k, v in book.asks.items() if k <= mid * (1 + band_bps / 1e4)))
        bids.append(sum(v for k, v in book.bids.items() if k >= mid * (1 - band_bps / 1e4)))
    trades = sorted(
        (int(m["T"]), float(m["q"]), bool(m["m"]))
        for path in paths for m in read_messages(path)
        if m.get("stream", "").endswith("@trade"))
    t = np.array([row[0] for row in trades], dtype=np.float64)
    q = np.array([row[1] for row in trades])
    seller = np.array([row[2] for row in trades])
    lots = 1000.0
    return {
        "asks": (np.array(times), np.array(asks) / lots, t[~seller], q[~seller]),
        "bids": (np.array(times), np.array(bids) / lots, t[seller], q[seller]),
    }


def curves_of(series: dict[str, tuple[np.ndarray, ...]], study: EventStudy) -> np.ndarray:
    return np.concatenate([recovery_curves(*series[side], study) for side in ("asks", "bids")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="directory of the recordings")
    args = parser.parse_args()
    study = EventStudy()
    curves = {name: curves_of(side_series([args.raw / f for f in files], study.band_bps), study)
              for name, files in DATASETS.items()}
    rate = fit_recovery_rate(curves[FIT_ON])
    print(f"event study: depth within {study.band_bps:g} bps of the mid, bursts of >= "
          f"{study.min_burst_base:g} BTC within {study.burst_ms} ms, >= {study.quiet_ms} ms "
          f"apart, deficit >= {study.min_deficit_share:.0%} of the depth before")
    for name, found in curves.items():
        median = np.median(found, axis=0)
        print(f"  {name}: {len(found)} events, median recovery curve at "
              + ", ".join(f"{lag / 1000:g} s {m:.2f}" for lag, m in zip(study.lags_ms, median,
                                                                     strict=True)))
    print(f"fitted on {FIT_ON}: rate {rate:.4f} per s, half-life {half_life_s(rate):.2f} s")
    test = curves[SCORE_ON]
    for label, candidate in (("fitted rate", rate), ("refills at once", math.inf),
                             ("never refills", 0.0)):
        print(f"  scored on {SCORE_ON} (mean |curve - model|): {label:<16} "
              f"{recovery_error(test, candidate, study.lags_ms):.3f}")
    own = fit_recovery_rate(test)
    print(f"  stability check, {SCORE_ON} fitted on its own: rate {own:.4f} per s, "
          f"half-life {half_life_s(own):.2f} s (not used)")


if __name__ == "__main__":
    main()
