"""`ReplaySource`: the bundled real recorded market data played back on a clock, looping.

The datasets live in `execsvc/market/data/` (built by `scripts/build_replay_data.py`, origin in
DATA.md), one per (venue, symbol key), and are loaded once, at construction:

- `hyperliquid`: `BTCUSDT`, `ETHUSDT` with Hyperliquid's hourly open interest (USD notional);
  its candles are Binance USD-M's hourly candles, the stated price proxy (Hyperliquid candles
  are not recorded for the span).
- `lighter`: `BTCUSDT`, `ETHUSDT` with Lighter's hourly open interest, Lighter's own hourly
  candles where recorded and Binance's as the stated proxy in the other hours.
- `ftx`: `BTC-PERP`, FTX 1-minute candles, Jan 2022 (volume converted from USD to BTC), no
  open interest.

The hyperliquid and lighter datasets cover one common span, so on the shared clock they are
at the same moment. No dataset has the taker buy/sell split: `taker_buy_volume` is NaN.

A `ReplaySource` serves one venue (`venue=...`), or, without one, each symbol from the first
venue of the manifest's `venues` that records it (the single-venue service). Sources built for
several venues share one `ReplayClock`.

Clock: replay elapsed time (ms) = `(clock() - t0) * 1000 * speed`, shared by all symbols, where
`t0` is the clock at construction and `clock` returns seconds. Each dataset maps it to its own
position (epoch ms of the recording)::

    position = start + warmup + elapsed mod (span - warmup)

with `start` the first candle's open, `span` the recorded duration (first open to last close)
plus one interval, so the last candle stays visible for one interval before the loop restarts,
and `warmup` 30 days (so a 30-day window is always full) or half the recording if that is not
longer than 30 days. Only candles closed at the position (`open_time + interval <= position`)
and open-interest samples taken at or before it are ever returned. When the loop restarts, the
position jumps back to `start + warmup`.
"""

from __future__ import annotations

import json
import math
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from execsvc.domain.book import OrderBook
from execsvc.domain.brackets import Bracket, bracket_table
from execsvc.domain.units import MarketPrecision
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.venue_rules import VENUE_BRACKETS, venue_brackets
from execsvc.market.precision import BUNDLED_PRECISION
from execsvc.market.types import MarketSourceError, OpenInterest, SymbolInfo
from execsvc.market.venue_symbols import split_key

DATA_DIR = Path(__file__).resolve().parent / "data"
MANIFEST = "replay_manifest.json"
WARMUP_MS = 30 * 86_400_000

_CANDLE_FIELDS = ("open_time_ms", "open", "high", "low", "close", "volume", "taker_buy_volume")


@dataclass(frozen=True, slots=True)
class ReplayDataset:
    """One recording: its candles, optional open interest and the replay geometry (all ms)."""

    info: SymbolInfo
    candles: Candles
    open_interest: OpenInterest | None
    start_ms: int
    span_ms: int
    warmup_ms: int

    @property
    def cycle_ms(self) -> int:
        """Replay time (ms) one loop takes."""
        return self.span_ms - self.warmup_ms

    def position_ms(self, elapsed_ms: int) -> int:
        """The recording's clock (epoch ms) after `elapsed_ms` of replay time."""
        return self.start_ms + self.warmup_ms + elapsed_ms % self.cycle_ms

    def closed_count(self, now_ms: int) -> int:
        """How many candles have closed (open + interval <= now) at `now_ms`."""
        last_open = now_ms - self.candles.interval_ms
        return int(np.searchsorted(self.candles.open_time_ms, last_open, side="right"))

    def candles_at(self, now_ms: int, since_ms: int) -> Candles:
        """Candles closed at `now_ms` whose open time is at or after `since_ms`."""
        return self.candles.slice(0, self.closed_count(now_ms)).since(since_ms)

    def open_interest_at(self, now_ms: int, since_ms: int) -> OpenInterest | None:
        """Samples with `since_ms <= time <= now_ms`; None when the recording has no OI."""
        oi = self.open_interest
        if oi is None:
            return None
        first = int(np.searchsorted(oi.time_ms, since_ms, side="left"))
        stop = int(np.searchsorted(oi.time_ms, now_ms, side="right"))
        first = min(first, stop)
        return OpenInterest(time_ms=oi.time_ms[first:stop], oi_quote=oi.oi_quote[first:stop])

    def mark_at(self, now_ms: int) -> float:
        """Close (quote per base) of the last candle closed at `now_ms`."""
        count = self.closed_count(now_ms)
        if count == 0:
            raise MarketSourceError(f"{self.info.symbol}: no candle closed yet at {now_ms}")
        return float(self.candles.close[count - 1])


BOOK_SYMBOL = "BTCUSDT"
"""The symbol whose books were recorded (Binance USD-M); other symbols borrow its profile."""
BOOK_REFERENCE = ("hyperliquid", BOOK_SYMBOL)
"""The dataset whose candles are Binance's BTCUSDT (the proxy in every hour): the turnover the
recorded books are scaled against."""


def hourly_turnover_quote(candles: Candles) -> float:
    """Median quote turnover per hour: `median(volume * close) * (1 h / interval)`."""
    per_candle = float(np.median(candles.volume * candles.close))
    return per_candle * 3_600_000 / candles.interval_ms


def _frozen(array: np.ndarray, dtype: type) -> np.ndarray:
    """A contiguous read-only copy (or view) of `array` as `dtype`, safe to hand to callers."""
    out = np.ascontiguousarray(array, dtype=dtype)
    out.setflags(write=False)
    return out


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an npz file, read into memory."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise MarketSourceError(f"cannot read replay data {path}: {exc}") from exc


def _warmup_ms(recorded_ms: int) -> int:
    """30 days, or half the recording (ms) when it is not longer than that."""
    return WARMUP_MS if recorded_ms > WARMUP_MS else recorded_ms // 2


def load_dataset(data_dir: Path, symbol: str, entry: dict) -> ReplayDataset:
    """Build a `ReplayDataset` from a manifest entry and its npz file."""
    arrays = _read_arrays(data_dir / entry["file"])
    missing = [name for name in (*_CANDLE_FIELDS, "oi_time_ms", "oi_quote") if name not in arrays]
    if missing:
        raise MarketSourceError(f"replay data {entry['file']} lacks arrays {missing}")
    interval = int(entry["interval_ms"])
    candles = Candles(
        **{
            name: _frozen(arrays[name], np.int64 if name == "open_time_ms" else np.float64)
            for name in _CANDLE_FIELDS
        },
        interval_ms=interval,
    )
    if len(candles) < 2:
        raise MarketSourceError(f"replay data {entry['file']} has fewer than 2 candles")
    has_oi = arrays["oi_time_ms"].size > 0
    open_interest = (
        OpenInterest(_frozen(arrays["oi_time_ms"], np.int64), _frozen(arrays["oi_quote"], float))
        if has_oi
        else None
    )
    start = int(candles.open_time_ms[0])
    recorded = int(candles.open_time_ms[-1]) + interval - start
    info = SymbolInfo(symbol, entry["venue"], entry["quote_currency"], has_oi)
    return ReplayDataset(
        info=info,
        candles=candles,
        open_interest=open_interest,
        start_ms=start,
        span_ms=recorded + interval,
        warmup_ms=_warmup_ms(recorded),
    )


def read_manifest(data_dir: Path) -> dict[str, dict]:
    """The `datasets` mapping of `replay_manifest.json` (`venue/symbol` -> entry, each entry
    naming its `venue` and `symbol`), in the order of the manifest's `venues`."""
    path = data_dir / MANIFEST
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        datasets, venues = dict(document["datasets"]), list(document["venues"])
    except (OSError, ValueError, KeyError) as exc:
        raise MarketSourceError(f"cannot read replay manifest {path}: {exc}") from exc
    return dict(sorted(datasets.items(), key=lambda item: venues.index(item[1]["venue"])))


def replay_venues(data_dir: Path = DATA_DIR) -> dict[str, list[str]]:
    """Venue -> the symbol keys it records, in the manifest's venue order."""
    venues: dict[str, list[str]] = {}
    for entry in read_manifest(data_dir).values():
        venues.setdefault(entry["venue"], []).append(entry["symbol"])
    return venues


def manifest_entry(data_dir: Path, symbol: str, venue: str | None = None) -> dict:
    """The manifest entry of `symbol` on `venue` (default: the first venue recording it)."""
    for entry in read_manifest(data_dir).values():
        if entry["symbol"] == symbol.upper() and venue in (None, entry["venue"]):
            return entry
    raise MarketSourceError(f"no replay dataset of {symbol!r}" + (f" on {venue}" if venue else ""))


def replay_brackets(venue: str, symbol: str) -> list[Bracket]:
    """The margin table of a replayed (venue, symbol): the venue's bundled tiers
    (`liqmap.venue_rules`) when it has them, else `bracket_table(symbol)` (FTX's `BTC-PERP`: the
    stated Binance BTCUSDT stand-in)."""
    parts = split_key(symbol)
    if venue in VENUE_BRACKETS and parts is not None:
        return venue_brackets(venue, parts[0])
    return bracket_table(symbol)


class ReplayClock:
    """The replay's one clock: elapsed replay ms = `(clock() - t0) * 1000 * speed` plus any
    `advance`/`set_elapsed_ms` offset. Sources sharing it describe the same moment."""

    def __init__(self, speed: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        self.speed = float(speed)
        self._clock = clock
        self._t0 = clock()
        self._offset_ms = 0

    def elapsed_ms(self) -> int:
        """Replay time elapsed since construction (ms), including the offsets."""
        wall_s = self._clock() - self._t0
        return math.floor(wall_s * 1000.0 * self.speed) + self._offset_ms

    def advance(self, replay_ms: int) -> None:
        """Move the clock forward (or back, if negative) by `replay_ms`."""
        self._offset_ms += int(replay_ms)

    def set_elapsed_ms(self, replay_ms: int) -> None:
        """Set the replay time elapsed (ms) as of now; the clock keeps running from there."""
        self._offset_ms += int(replay_ms) - self.elapsed_ms()


class ReplaySource:
    """`MarketSource` over the bundled recordings (see the module docstring for the clock).

    `speed` is replay ms per wall ms (720: one hour of market per five seconds). `symbols`
    selects symbol keys (default: all the venue records); an unknown one fails here, naming the
    available ones. `venue` selects one replay venue (default: each symbol's first venue).
    `clock` returns seconds (monotonic); tests pass a fake one or use `advance` /
    `set_elapsed_ms`. `replay_clock` shares one clock between sources (then `speed` and `clock`
    are its own). `data_dir` overrides the bundled data directory.

    Brackets: `replay_brackets` (the venue's bundled tiers; FTX's `BTC-PERP` gets Binance's
    BTCUSDT table as the stated stand-in). Order books come from `execsvc.market.replay_books`
    (recorded Binance books rescaled to the replay mark price).
    """

    name = "replay"

    def __init__(
        self,
        speed: float,
        symbols: list[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        data_dir: Path | None = None,
        venue: str | None = None,
        replay_clock: ReplayClock | None = None,
    ) -> None:
        self._replay_clock = replay_clock or ReplayClock(speed, clock)
        self.speed = self._replay_clock.speed
        directory = data_dir if data_dir is not None else DATA_DIR
        entries = _entries_by_symbol(read_manifest(directory), venue)
        wanted = list(entries) if symbols is None else [s.upper() for s in symbols]
        unknown = [s for s in wanted if s not in entries]
        if unknown:
            where = f" on {venue}" if venue else ""
            raise MarketSourceError(
                f"unknown replay symbol(s) {unknown}{where}; available: {sorted(entries)}"
            )
        self.venue = venue
        self._datasets = {s: load_dataset(directory, s, entries[s]) for s in wanted}
        reference = load_dataset(directory, BOOK_SYMBOL,
                                 manifest_entry(directory, BOOK_SYMBOL, BOOK_REFERENCE[0]))
        self._book_scale = {
            s: hourly_turnover_quote(d.candles) / hourly_turnover_quote(reference.candles)
            for s, d in self._datasets.items()
        }

    # --- clock -------------------------------------------------------------------------------

    @property
    def replay_clock(self) -> ReplayClock:
        """The clock this source reads (shared when given at construction)."""
        return self._replay_clock

    def elapsed_ms(self) -> int:
        """Replay time elapsed since construction (ms), including `advance`/`set_elapsed_ms`."""
        return self._replay_clock.elapsed_ms()

    def advance(self, replay_ms: int) -> None:
        """Move the replay clock forward (or back, if negative) by `replay_ms`."""
        self._replay_clock.advance(replay_ms)

    def set_elapsed_ms(self, replay_ms: int) -> None:
        """Set the replay time elapsed (ms) as of now; the clock keeps running from there."""
        self._replay_clock.set_elapsed_ms(replay_ms)

    def dataset(self, symbol: str) -> ReplayDataset:
        """The loaded recording for `symbol`; `MarketSourceError` if it is not served here."""
        try:
            return self._datasets[symbol.upper()]
        except KeyError:
            raise MarketSourceError(
                f"unknown symbol {symbol!r}; replay serves {sorted(self._datasets)}"
            ) from None

    def position_ms(self, symbol: str) -> int:
        """The replay position of `symbol` (epoch ms of its recording)."""
        return self.dataset(symbol).position_ms(self.elapsed_ms())

    # --- MarketSource ------------------------------------------------------------------------

    def symbols(self) -> list[SymbolInfo]:
        return [dataset.info for dataset in self._datasets.values()]

    async def candles(self, symbol: str, since_ms: int) -> Candles:
        """Closed candles (open time >= `since_ms`) at the replay position."""
        dataset = self.dataset(symbol)
        return dataset.candles_at(dataset.position_ms(self.elapsed_ms()), since_ms)

    async def open_interest(self, symbol: str, since_ms: int) -> OpenInterest | None:
        """Open interest (quote notional) sampled in `[since_ms, position]`; None without OI."""
        dataset = self.dataset(symbol)
        return dataset.open_interest_at(dataset.position_ms(self.elapsed_ms()), since_ms)

    async def order_book(self, symbol: str, depth: int) -> OrderBook:
        """A recorded Binance BTCUSDT book rescaled to the replay mark price (`replay_books`),
        on the symbol's bundled tick and lot; for other symbols its depth is also scaled by
        their turnover relative to BTCUSDT's."""
        dataset = self.dataset(symbol)
        now = dataset.position_ms(self.elapsed_ms())
        from execsvc.market.replay_books import replay_order_book

        symbol_key = dataset.info.symbol
        scale = self._book_scale[symbol_key]
        return replay_order_book(
            symbol_key, mid_price=dataset.mark_at(now), at_ms=now, depth=depth,
            quote_volume_scale=scale, precision=BUNDLED_PRECISION[symbol_key],
        )

    async def leverage_brackets(self, symbol: str) -> list[Bracket]:
        """The venue's bundled margin table (`replay_brackets`)."""
        info = self.dataset(symbol).info
        return replay_brackets(info.exchange, info.symbol)

    async def mark_price(self, symbol: str) -> float:
        """Close (quote per base) of the last closed candle at the replay position."""
        dataset = self.dataset(symbol)
        return dataset.mark_at(dataset.position_ms(self.elapsed_ms()))

    async def precision(self, symbol: str) -> MarketPrecision:
        """The bundled grid of the recording (`market.precision.BUNDLED_PRECISION`)."""
        return BUNDLED_PRECISION[self.dataset(symbol).info.symbol]

    async def now_ms(self, symbol: str) -> int:
        """The replay position of `symbol` (epoch ms, differs per recording)."""
        return self.position_ms(symbol)

    async def close(self) -> None:
        """Nothing to release: the data is in memory."""


def _entries_by_symbol(manifest: dict[str, dict], venue: str | None) -> dict[str, dict]:
    """Symbol key -> manifest entry on `venue`, or on each symbol's first venue."""
    entries: dict[str, dict] = {}
    for entry in manifest.values():
        if venue in (None, entry["venue"]):
            entries.setdefault(entry["symbol"], entry)
    return entries
