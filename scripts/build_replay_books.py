"""Rebuild recorded Binance USD-M BTCUSDT L2 books and bundle 1 s samples for the replay source.

Run once by a developer (needs the raw recordings, not needed at run time)::

    python scripts/build_replay_books.py --raw /work/shared/data/hftbacktest \
        --out execsvc/market/data/books_btcusdt.npz

Input: nkaz001/hftbacktest recordings (MIT), one message per line as
`<local_recv_ts_ns> <raw Binance JSON>`: a 1000-level REST snapshot (`lastUpdateId`) and
`depth@0ms` diffs (`U` first id, `u` last id, `pu` previous diff's `u`), plus `bookTicker`
messages used here only to cross-check the rebuilt top of book.

Binance's documented local-book procedure, ordered by update ids (the recorder's local clock
is about 1.2 s behind the exchange, so its timestamps are never used for ordering):

1. start from the snapshot; drop diffs with `u < lastUpdateId`;
2. the first applied diff must satisfy `U <= lastUpdateId <= u`;
3. every later diff's `pu` must equal the previous diff's `u` (a gap stops the dataset: there
   is no second snapshot to resync from, and it is reported);
4. a level's quantity replaces the stored one; quantity 0 removes the level.

The snapshot holds the best 1000 levels per side (about 20-25 bps), so at first the book is
only complete inside the price range it covered: diffs also name levels outside it, but levels
there that no diff has touched are unknown. The script measures how fast the diff stream
refreshes the book: it tracks the snapshot levels no diff has touched yet, and the distance
from the mid to the nearest of them is the *refresh radius* (inside it, a book built from diffs
alone equals the snapshot-based one; it grows from ~0 to 10 bps within about a minute and past
30 bps later). Each sample keeps, from the best price outward, levels inside the snapshot range
or within the refresh radius, and stops at the first level that is neither. A sample whose kept
depth is under `--min-depth-btc` on either side is dropped and counted.

The book is sampled once per second of exchange time `E` (the state after the last diff of each
second) and the best `--levels` levels per side are kept. Prices are stored exactly as integer
ticks of 0.1 USDT and quantities exactly as integer lots of 0.001 BTC (Binance's filters).
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

TICKS_PER_USDT = 10  # price tick 0.1 USDT
LOTS_PER_BTC = 1000  # quantity step 0.001 BTC
DEFAULT_LEVELS = 800
MIN_DEPTH_BTC = 200.0
ORIGIN = "nkaz001/hftbacktest@5f3ec40b2afb764e0fea112f941ed85523ef4e88 (MIT), Binance USD-M BTCUSDT"
DATASETS: dict[str, tuple[str, ...]] = {
    "2024-07-18": ("btcusdt_20240718.gz", "btcusdt_20240719.gz"),
    "2024-08-08": ("btcusdt_20240808.gz",),
}


@dataclass
class Recording:
    """One continuous recording: the snapshot, depth diffs sorted by `u`, bookTickers by `u`."""

    snapshot: dict
    diffs: list[dict]
    tickers: dict[int, dict]


@dataclass
class Report:
    """What the rebuild saw: counts, gaps and top-of-book checks against `bookTicker`."""

    dataset: str
    diffs_total: int = 0
    diffs_dropped: int = 0
    diffs_applied: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)
    ticker_checks: int = 0
    ticker_mismatches: int = 0
    shallow_samples: int = 0


def to_ticks(price: str) -> int:
    """Price string (USDT) -> integer ticks of 0.1 USDT; refuses off-tick prices."""
    scaled = float(price) * TICKS_PER_USDT
    ticks = round(scaled)
    if abs(scaled - ticks) > 1e-6:
        raise ValueError(f"price {price} is not on the 0.1 tick")
    return ticks


def to_lots(quantity: str) -> int:
    """Quantity string (BTC) -> integer lots of 0.001 BTC; refuses off-step quantities."""
    scaled = float(quantity) * LOTS_PER_BTC
    lots = round(scaled)
    if abs(scaled - lots) > 1e-6:
        raise ValueError(f"quantity {quantity} is not on the 0.001 step")
    return lots


def read_messages(path: Path) -> Iterator[dict]:
    """Yield the JSON payload of each `<local_ts_ns> <json>` line (combined streams unwrapped
    into `{"stream": ..., **data}`; the REST snapshot is yielded as is)."""
    with gzip.open(path, "rt") as fh:
        for line in fh:
            payload = json.loads(line.split(" ", 1)[1])
            if "stream" in payload:
                yield {"stream": payload["stream"], **payload["data"]}
            else:
                yield payload


def load_recording(paths: list[Path]) -> Recording:
    """Read consecutive files of one recording; exactly one REST snapshot must be present."""
    snapshots: list[dict] = []
    diffs: list[dict] = []
    tickers: dict[int, dict] = {}
    for path in paths:
        for msg in read_messages(path):
            stream = msg.get("stream", "")
            if "lastUpdateId" in msg:
                snapshots.append(msg)
            elif stream.endswith("@depth@0ms"):
                diffs.append(msg)
            elif stream.endswith("@bookTicker"):
                tickers[int(msg["u"])] = msg
    if len(snapshots) != 1:
        raise ValueError(f"{paths}: expected one REST snapshot, found {len(snapshots)}")
    diffs.sort(key=lambda d: d["u"])
    return Recording(snapshot=snapshots[0], diffs=diffs, tickers=tickers)


def side_from_levels(levels: list[list[str]]) -> dict[int, int]:
    """Snapshot side -> {price ticks: lots}."""
    return {to_ticks(p): to_lots(q) for p, q in levels if to_lots(q) > 0}


def apply_levels(book_side: dict[int, int], levels: list[list[str]], untouched: set[int]) -> None:
    """Apply one diff side in place: the quantity replaces the level; 0 removes it.

    Every price it names is dropped from `untouched` (snapshot levels not yet refreshed).
    """
    for p, q in levels:
        ticks, lots = to_ticks(p), to_lots(q)
        untouched.discard(ticks)
        if lots == 0:
            book_side.pop(ticks, None)
        else:
            book_side[ticks] = lots


def refresh_radius_bps(
    mid: float, untouched_bids: set[int], untouched_asks: set[int], lo: int, hi: int
) -> float:
    """How far from the mid (bps) the diff stream is known to have refreshed the book.

    It is the distance `|t - mid| / mid * 1e4` to the nearest snapshot level no diff has touched
    yet; once all are touched, the distance to the farther snapshot bound (`lo` lowest bid,
    `hi` highest ask, in ticks). Inside that radius a book built from diffs alone equals the
    snapshot-based book, so levels learned from diffs outside the snapshot range are trusted
    within it as well.
    """
    untouched = [abs(t - mid) for t in (*untouched_bids, *untouched_asks)]
    if untouched:
        return min(untouched) / mid * 1e4
    return max(mid - lo, hi - mid) / mid * 1e4


def trusted_prefix(
    book_side: dict[int, int],
    descending: bool,
    bound: int,
    mid: float,
    radius_bps: float,
    levels: int,
) -> tuple[np.ndarray, bool]:
    """Best `levels` (ticks, lots) rows of one side that are known to be complete.

    A level is trusted inside the snapshot range (bids >= `bound`, asks <= `bound`) or within
    `radius_bps` of the mid; the walk from the best price stops at the first untrusted level.
    Returns the rows and whether any of them lies outside the snapshot range.
    """
    prices = sorted(book_side, reverse=descending)
    kept: list[int] = []
    beyond = False
    for t in prices[: levels + 1]:
        inside = t >= bound if descending else t <= bound
        if not inside and abs(t - mid) / mid * 1e4 > radius_bps:
            break
        beyond |= not inside
        kept.append(t)
    kept = kept[:levels]
    rows = np.array([(t, book_side[t]) for t in kept], dtype=np.int64).reshape(-1, 2)
    return rows, beyond


def check_ticker(bids: dict[int, int], asks: dict[int, int], ticker: dict) -> bool:
    """True when the rebuilt best bid/ask (price and quantity) equal the `bookTicker` ones."""
    best_bid, best_ask = max(bids), min(asks)
    return (
        best_bid == to_ticks(ticker["b"])
        and bids[best_bid] == to_lots(ticker["B"])
        and best_ask == to_ticks(ticker["a"])
        and asks[best_ask] == to_lots(ticker["A"])
    )


@dataclass
class Sample:
    """One kept book: exchange time `E` (ms), last applied update id, top levels per side
    (ticks, lots), and whether levels learned from diffs outside the snapshot range are used."""

    time_ms: int
    update_id: int
    bids: np.ndarray
    asks: np.ndarray
    beyond_snapshot: bool
    refresh_radius_bps: float


@dataclass
class BookState:
    """The live book during a rebuild and what is known about its completeness."""

    bids: dict[int, int]
    asks: dict[int, int]
    untouched_bids: set[int]
    untouched_asks: set[int]
    lo: int
    hi: int

    @classmethod
    def from_snapshot(cls, snap: dict) -> BookState:
        bids, asks = side_from_levels(snap["bids"]), side_from_levels(snap["asks"])
        return cls(bids, asks, set(bids), set(asks), min(bids), max(asks))

    def apply(self, diff: dict) -> None:
        apply_levels(self.bids, diff["b"], self.untouched_bids)
        apply_levels(self.asks, diff["a"], self.untouched_asks)

    def sample(
        self, time_ms: int, update_id: int, levels: int, min_depth_lots: int
    ) -> Sample | None:
        """Top `levels` trusted levels per side, or None when either side holds less than
        `min_depth_lots` in them (the sample could not serve a walk of that size)."""
        best_bid, best_ask = max(self.bids), min(self.asks)
        if best_bid >= best_ask:
            raise ValueError(f"crossed book at update {update_id}")
        mid = (best_bid + best_ask) / 2.0
        radius = refresh_radius_bps(mid, self.untouched_bids, self.untouched_asks, self.lo, self.hi)
        b, b_out = trusted_prefix(self.bids, True, self.lo, mid, radius, levels)
        a, a_out = trusted_prefix(self.asks, False, self.hi, mid, radius, levels)
        if b[:, 1].sum() < min_depth_lots or a[:, 1].sum() < min_depth_lots:
            return None
        return Sample(time_ms, update_id, b, a, b_out or a_out, radius)


def rebuild(rec: Recording, levels: int, min_depth_btc: float, report: Report) -> list[Sample]:
    """Apply the diffs to the snapshot by update id and sample once per exchange second."""
    last_id = int(rec.snapshot["lastUpdateId"])
    book = BookState.from_snapshot(rec.snapshot)
    min_lots = round(min_depth_btc * LOTS_PER_BTC)
    report.diffs_total = len(rec.diffs)
    pending = [d for d in rec.diffs if d["u"] >= last_id]
    report.diffs_dropped = len(rec.diffs) - len(pending)
    if not pending or not pending[0]["U"] <= last_id <= pending[0]["u"]:
        raise ValueError(f"{report.dataset}: no diff bridges lastUpdateId {last_id}")

    samples: list[Sample] = []
    prev_u: int | None = None
    prev_time = 0

    def take() -> None:
        sample = book.sample(prev_time, prev_u, levels, min_lots)
        if sample is None:
            report.shallow_samples += 1
        else:
            samples.append(sample)

    for diff in pending:
        if prev_u is not None and diff["pu"] != prev_u:
            report.gaps.append((prev_u, int(diff["pu"])))
            break
        if prev_u is not None and diff["E"] // 1000 > prev_time // 1000:
            take()
        book.apply(diff)
        prev_u, prev_time = int(diff["u"]), int(diff["E"])
        report.diffs_applied += 1
        ticker = rec.tickers.get(prev_u)
        if ticker is not None:
            report.ticker_checks += 1
            report.ticker_mismatches += int(not check_ticker(book.bids, book.asks, ticker))
    if prev_u is not None:
        take()
    return samples


def pack(samples_by_dataset: dict[str, list[Sample]], levels: int) -> dict[str, np.ndarray]:
    """Arrays for the npz: (S, levels) int32 ticks/lots padded with 0, plus per-sample metadata.

    `bid_count`/`ask_count` give the real number of levels in each row (the rest is padding).
    """
    names = sorted(samples_by_dataset)
    rows = [(i, s) for i, name in enumerate(names) for s in samples_by_dataset[name]]
    n = len(rows)
    out = {
        "bid_ticks": np.zeros((n, levels), np.int32),
        "bid_lots": np.zeros((n, levels), np.int32),
        "ask_ticks": np.zeros((n, levels), np.int32),
        "ask_lots": np.zeros((n, levels), np.int32),
        "bid_count": np.zeros(n, np.int16),
        "ask_count": np.zeros(n, np.int16),
        "time_ms": np.zeros(n, np.int64),
        "update_id": np.zeros(n, np.int64),
        "dataset_index": np.zeros(n, np.int8),
        "beyond_snapshot": np.zeros(n, np.bool_),
    }
    for r, (i, s) in enumerate(rows):
        for side, arr in (("bid", s.bids), ("ask", s.asks)):
            out[f"{side}_ticks"][r, : len(arr)] = arr[:, 0]
            out[f"{side}_lots"][r, : len(arr)] = arr[:, 1]
            out[f"{side}_count"][r] = len(arr)
        out["time_ms"][r] = s.time_ms
        out["update_id"][r] = s.update_id
        out["dataset_index"][r] = i
        out["beyond_snapshot"][r] = s.beyond_snapshot
    out["datasets"] = np.array(names, dtype="<U16")
    out["origin"] = np.array(ORIGIN)
    out["tick_size"] = np.array(1.0 / TICKS_PER_USDT)
    out["lot_size"] = np.array(1.0 / LOTS_PER_BTC)
    return out


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def depth_within_bps(s: Sample, bps: float) -> tuple[float, float]:
    """Cumulative BTC on each side within `bps` of the mid: sum q where |p/mid - 1| * 1e4 <= bps."""
    mid = (s.bids[0, 0] + s.asks[0, 0]) / 2.0
    bid_ok = (mid - s.bids[:, 0]) / mid * 1e4 <= bps
    ask_ok = (s.asks[:, 0] - mid) / mid * 1e4 <= bps
    return (
        s.bids[bid_ok, 1].sum() / LOTS_PER_BTC,
        s.asks[ask_ok, 1].sum() / LOTS_PER_BTC,
    )


def summarise(report: Report, samples: list[Sample]) -> None:
    """Print counts, gaps, spread statistics and the depth kept per sample."""
    bb = np.array([s.bids[0, 0] for s in samples], float)
    ba = np.array([s.asks[0, 0] for s in samples], float)
    spread_ticks = ba - bb
    spread_bps = spread_ticks / ((ba + bb) / 2.0) * 1e4
    cum_bid = np.array([s.bids[:, 1].sum() for s in samples]) / LOTS_PER_BTC
    cum_ask = np.array([s.asks[:, 1].sum() for s in samples]) / LOTS_PER_BTC
    span_bid = np.array([(s.bids[0, 0] - s.bids[-1, 0]) / s.bids[0, 0] * 1e4 for s in samples])
    span_ask = np.array([(s.asks[-1, 0] - s.asks[0, 0]) / s.asks[0, 0] * 1e4 for s in samples])
    within10 = np.array([depth_within_bps(s, 10.0) for s in samples])
    print(f"== {report.dataset}: {iso(samples[0].time_ms)} -> {iso(samples[-1].time_ms)}")
    print(
        f"   diffs {report.diffs_total}, dropped (u < lastUpdateId) {report.diffs_dropped}, "
        f"applied {report.diffs_applied}, gaps {len(report.gaps)} {report.gaps}"
    )
    print(
        f"   bookTicker top-of-book checks {report.ticker_checks}, "
        f"mismatches {report.ticker_mismatches}"
    )
    print(
        f"   samples kept {len(samples)}, dropped as too shallow {report.shallow_samples}, "
        f"using levels beyond the snapshot range {sum(s.beyond_snapshot for s in samples)}"
    )
    print(
        f"   spread ticks min/median/max {spread_ticks.min():.0f}/{np.median(spread_ticks):.0f}/"
        f"{spread_ticks.max():.0f}, one-tick share {np.mean(spread_ticks == 1):.3f}, "
        f"spread bps median {np.median(spread_bps):.4f} max {spread_bps.max():.4f}"
    )
    for name, arr in (("bid", cum_bid), ("ask", cum_ask)):
        print(
            f"   cumulative {name} BTC kept min/p5/median/max "
            f"{arr.min():.1f}/{np.percentile(arr, 5):.1f}/{np.median(arr):.1f}/{arr.max():.1f}"
        )
    print(
        f"   span kept bps bid min/median {span_bid.min():.1f}/{np.median(span_bid):.1f}, "
        f"ask min/median {span_ask.min():.1f}/{np.median(span_ask):.1f}"
    )
    radius = {
        int((s.time_ms - samples[0].time_ms) / 1000): round(s.refresh_radius_bps, 1)
        for s in samples
    }
    marks = [t for t in (0, 10, 30, 60, 120, 240, 400) if t in radius]
    print("   refresh radius bps at +s: " + ", ".join(f"+{t}: {radius[t]}" for t in marks))
    print(
        f"   BTC within 10 bps of mid, bid median {np.median(within10[:, 0]):.1f}, "
        f"ask median {np.median(within10[:, 1]):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--raw", type=Path, default=Path("/work/shared/data/hftbacktest"))
    parser.add_argument("--out", type=Path, default=Path("execsvc/market/data/books_btcusdt.npz"))
    parser.add_argument("--levels", type=int, default=DEFAULT_LEVELS)
    parser.add_argument("--min-depth-btc", type=float, default=MIN_DEPTH_BTC)
    args = parser.parse_args()

    samples_by_dataset: dict[str, list[Sample]] = {}
    for name, files in DATASETS.items():
        rec = load_recording([args.raw / f for f in files])
        report = Report(dataset=name)
        samples = rebuild(rec, args.levels, args.min_depth_btc, report)
        summarise(report, samples)
        samples_by_dataset[name] = samples

    arrays = pack(samples_by_dataset, args.levels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    total = sum(len(s) for s in samples_by_dataset.values())
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes), {total} samples")


if __name__ == "__main__":
    main()
