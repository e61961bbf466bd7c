"""Recorded Binance USD-M BTCUSDT order books for the replay source, re-centred on any price.

The bundle `data/books_btcusdt.npz` (built by `scripts/build_replay_books.py` from
nkaz001/hftbacktest recordings, see DATA.md) holds 1 s samples of the rebuilt book: prices as
integer ticks of 0.1 USDT, sizes as integer lots of 0.001 BTC, up to 800 levels per side, each
side holding at least 200 BTC.

`replay_order_book` picks sample `(at_ms // 1000) mod count`, so the book changes every second
of replay time and loops, and maps it onto the requested mid price by its bps profile. With
recorded mid `m0`, target mid `M` and `r = M / m0`, a recorded level (p, q) becomes

    price     p' = p * r, rounded outward to the tick (bids down, asks up)
    quantity  q' = q * (p / p') * scale   (quote notional p*q kept, times `quote_volume_scale`)

so each level keeps its offset from the mid in bps and its quote notional. Levels that round to
the same tick are merged (sizes summed). Outward rounding keeps best bid < best ask and puts the
book's mid within half a tick of `M`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np

from execsvc.domain.book import OrderBook
from execsvc.domain.units import MarketPrecision, step_decimals

RECORDED_SYMBOL = "BTCUSDT"
RECORDED_EXCHANGE = "binanceusdm"
BOOKS_PATH = Path(__file__).parent / "data" / "books_btcusdt.npz"
# Tick units are 10**-TICK_DECIMALS; the recorded book uses 0.1 USDT.
RECORDED_TICK_DECIMALS = 1
# Outward rounding absorbs float error up to this many ticks (x.9999999 ticks -> x + 1).
_ROUNDING_SLACK_TICKS = 1e-7


@dataclass(frozen=True, slots=True)
class RecordedBooks:
    """All bundled samples: (S, L) int64 ticks and float64 sizes (BTC) per side, zero-padded
    beyond `bid_count`/`ask_count` levels; `time_ms` is the exchange time `E` of each sample."""

    bid_ticks: np.ndarray
    bid_sizes: np.ndarray
    bid_count: np.ndarray
    ask_ticks: np.ndarray
    ask_sizes: np.ndarray
    ask_count: np.ndarray
    time_ms: np.ndarray

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


@cache
def recorded_books() -> RecordedBooks:
    """Load the bundle once per process (later calls return the same object)."""
    with np.load(BOOKS_PATH, allow_pickle=False) as npz:
        lots_per_unit = float(round(1.0 / float(npz["lot_size"])))  # 1000 lots per BTC
        return RecordedBooks(
            bid_ticks=_frozen(npz["bid_ticks"].astype(np.int64)),
            bid_sizes=_frozen(npz["bid_lots"].astype(np.float64) / lots_per_unit),
            bid_count=_frozen(npz["bid_count"].astype(np.int64)),
            ask_ticks=_frozen(npz["ask_ticks"].astype(np.int64)),
            ask_sizes=_frozen(npz["ask_lots"].astype(np.float64) / lots_per_unit),
            ask_count=_frozen(npz["ask_count"].astype(np.int64)),
            time_ms=_frozen(npz["time_ms"].astype(np.int64)),
        )


def snapshot_count() -> int:
    """Number of bundled 1 s samples."""
    return len(recorded_books())


def snapshot_index(at_ms: int) -> int:
    """Sample used at replay time `at_ms`: `(at_ms // 1000) mod count`."""
    return int(at_ms) // 1000 % snapshot_count()


def _ticks_to_prices(ticks: np.ndarray, decimals: int) -> np.ndarray:
    """Integer ticks of 10**-decimals -> prices, dividing by an exact integer power of ten so
    that e.g. 618002 ticks of 0.1 is the float nearest to 61800.2."""
    if decimals >= 0:
        return ticks.astype(np.float64) / float(10**decimals)
    return ticks.astype(np.float64) * float(10**-decimals)


def _recorded_source(index: int) -> str:
    stamp = datetime.fromtimestamp(int(recorded_books().time_ms[index]) / 1000, UTC)
    return f"recorded:{RECORDED_EXCHANGE}:{RECORDED_SYMBOL}:{stamp:%Y-%m-%dT%H:%M:%SZ}"


def _side(index: int, bids: bool) -> tuple[np.ndarray, np.ndarray]:
    """(ticks, sizes) of one recorded side of sample `index`, best first, without padding."""
    books = recorded_books()
    if bids:
        n = int(books.bid_count[index])
        return books.bid_ticks[index, :n], books.bid_sizes[index, :n]
    n = int(books.ask_count[index])
    return books.ask_ticks[index, :n], books.ask_sizes[index, :n]


def recorded_order_book(index: int, depth: int | None = None) -> OrderBook:
    """Sample `index` exactly as recorded (BTCUSDT, USDT prices, BTC sizes), at most `depth`
    levels per side; `timestamp_ms` is the recorded exchange time."""
    books = recorded_books()
    if not 0 <= index < len(books):
        raise IndexError(f"index must be in [0, {len(books)}), got {index}")
    sides = []
    for is_bid in (True, False):
        ticks, sizes = _side(index, is_bid)
        prices = _ticks_to_prices(ticks[:depth], RECORDED_TICK_DECIMALS)
        sides.append(np.column_stack([prices, sizes[:depth]]))
    return OrderBook(
        bids=sides[0],
        asks=sides[1],
        timestamp_ms=int(books.time_ms[index]),
        source=_recorded_source(index),
    )


def tick_decimals(symbol: str, price: float) -> int:
    """Price tick as decimals `d` (tick = 10**-d) for a book centred on `price`.

    Generic rule: the power of ten with tick/price in (1e-6, 1e-5], d = 5 - floor(log10(price))
    (ETH at 2500 -> 0.01, SOL at 150 -> 0.001), a tick of 0.01-0.1 bps like Binance's majors.
    BTCUSDT keeps its recorded 0.1 USDT tick unless the generic one is finer (prices far below
    the recorded ~60k).
    """
    generic = 5 - math.floor(math.log10(price))
    if symbol == RECORDED_SYMBOL:
        return max(RECORDED_TICK_DECIMALS, generic)
    return generic


def _merge_equal(ticks: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge consecutive rows with the same tick (sizes summed); ticks are monotone."""
    starts = np.flatnonzero(np.concatenate([[True], np.diff(ticks) != 0]))
    return ticks[starts], np.add.reduceat(sizes, starts)


def _recentre_side(
    ticks: np.ndarray,
    sizes: np.ndarray,
    ratio: float,
    tick: float,
    scale: float,
    is_bid: bool,
    lot: float | None,
) -> np.ndarray:
    """One side mapped by `p' = p * ratio`, rounded outward to the grid of `tick`, sizes set to
    `q * (p / p') * scale` (quote notional kept, times `scale`), colliding levels merged; with
    a `lot`, sizes rounded down to whole lots and levels left empty dropped."""
    prices = _ticks_to_prices(ticks, RECORDED_TICK_DECIMALS)
    raw = prices * ratio / tick
    if is_bid:
        new_ticks = np.floor(raw + _ROUNDING_SLACK_TICKS).astype(np.int64)
    else:
        new_ticks = np.ceil(raw - _ROUNDING_SLACK_TICKS).astype(np.int64)
    decimals = step_decimals(tick)
    new_prices = np.round(new_ticks * tick, decimals)
    new_sizes = sizes * (prices / new_prices) * scale
    merged_ticks, merged_sizes = _merge_equal(new_ticks, new_sizes)
    if lot is not None:
        lots = np.floor(merged_sizes / lot + _ROUNDING_SLACK_TICKS)
        merged_sizes = np.round(lots * lot, step_decimals(lot))
        keep = lots > 0
        merged_ticks, merged_sizes = merged_ticks[keep], merged_sizes[keep]
    return np.column_stack([np.round(merged_ticks * tick, decimals), merged_sizes])


def replay_order_book(
    symbol: str,
    mid_price: float,
    at_ms: int,
    depth: int,
    *,
    quote_volume_scale: float = 1.0,
    precision: MarketPrecision | None = None,
) -> OrderBook:
    """A recorded BTCUSDT book re-centred on `mid_price` (quote units) for replay time `at_ms`.

    For `BTCUSDT` the source reads `recorded:binanceusdm:BTCUSDT:<recorded UTC time>`. For any
    other symbol the same bps depth profile is rescaled to its price, and the source reads
    `profile:BTCUSDT-><SYMBOL> ...` so answers can say the depth is borrowed. Quote notional is
    multiplied by `quote_volume_scale` (e.g. the symbol's volume relative to BTCUSDT); any scale
    other than 1 is named in the source. At most `depth` levels per side are returned (fewer when
    levels merge or the sample is shallower). `timestamp_ms` is `at_ms`. With `precision` the
    prices go to its tick and the sizes down to its lot (a level holding less than one lot is
    dropped), and the book carries it; without, the tick is `tick_decimals`.
    """
    mid = float(mid_price)
    scale = float(quote_volume_scale)
    if not math.isfinite(mid) or mid <= 0.0:
        raise ValueError(f"mid_price must be finite and > 0, got {mid_price!r}")
    if not math.isfinite(scale) or scale <= 0.0:
        raise ValueError(f"quote_volume_scale must be finite and > 0, got {quote_volume_scale!r}")
    if int(depth) < 1:
        raise ValueError(f"depth must be >= 1, got {depth!r}")
    key = symbol.upper()
    index = snapshot_index(at_ms)
    bid_ticks, bid_sizes = _side(index, True)
    ask_ticks, ask_sizes = _side(index, False)
    recorded_mid = (bid_ticks[0] + ask_ticks[0]) / 2.0 / 10.0**RECORDED_TICK_DECIMALS
    ratio = mid / recorded_mid
    tick = precision.tick_size if precision else 10.0 ** -tick_decimals(key, mid)
    lot = precision.lot_size if precision else None
    bids = _recentre_side(bid_ticks, bid_sizes, ratio, tick, scale, True, lot)
    asks = _recentre_side(ask_ticks, ask_sizes, ratio, tick, scale, False, lot)
    source = _recorded_source(index)
    if key != RECORDED_SYMBOL:
        source = f"profile:{RECORDED_SYMBOL}->{key} bps depth profile of {source}"
    if scale != 1.0:
        source = f"{source} quote notional x{scale:g}"
    return OrderBook(
        bids=bids[: int(depth)],
        asks=asks[: int(depth)],
        timestamp_ms=int(at_ms),
        source=source,
        precision=precision,
    )
