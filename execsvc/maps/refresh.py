"""One symbol's refresh on one venue, shared by the worker, `execsvc map` and the benchmark:
fetch the market data a map needs, then build one map per window (pure, CPU-bound) and encode
it as `maps.document` stores it. `maps.venue_build.build_venue` puts the two together with the
venue's liquidation formula: callers build through it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from execsvc.domain.book import OrderBook
from execsvc.domain.brackets import Bracket
from execsvc.domain.map_document import CandleStats, EncodedDocument
from execsvc.domain.units import MarketPrecision
from execsvc.execution.impact import sigma_quote_per_sqrt_s, volume_rate_base_per_s
from execsvc.execution.market_stats import hourly_atr
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.cohorts import open_interest_at_close
from execsvc.liqmap.funding import FundingRates
from execsvc.liqmap.model import LiquidationMap, MapParams, build_map
from execsvc.maps.document import ModelDescription, encode_document
from execsvc.market.types import MarketSource, MarketSourceError, OpenInterest, SymbolInfo
from execsvc.settings import Settings


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Everything one symbol's maps are built from, as of `now_ms` (the source's clock)."""

    info: SymbolInfo
    now_ms: int
    candles: Candles
    open_interest: OpenInterest | None
    brackets: list[Bracket]
    price: float
    book: OrderBook | None = None
    funding: FundingRates | None = None
    precision: MarketPrecision | None = None


def map_params(settings: Settings) -> MapParams:
    return MapParams(
        leverage_mix=settings.leverage_mix,
        position_notional_quote=settings.position_notional_quote,
        bin_width_bps=settings.bin_width_bps,
        range_pct=settings.range_pct,
        cap_leverage_to_venue=settings.cap_leverage_to_venue,
        side_split=settings.side_split,
        churn_rate_per_day=settings.churn_rate_per_day,
        oi_units=settings.oi_units,
        stock_half_life_h=settings.stock_half_life_h,
        cross_share=settings.cross_share,
        cross_margin_multiple=settings.cross_margin_multiple,
    )


def snapshot_lookback_s(windows: dict[str, int], params: MapParams) -> int:
    """Seconds of history a snapshot needs: the longest window, plus the span before it where
    the stock of already open positions is placed (`MapParams.stock_lookback_ms`)."""
    return max(windows.values()) + params.stock_lookback_ms // 1000


BOOK_DEPTH = 1000
"""Levels per side fetched for advice (Binance serves at most 1000)."""


async def fetch_snapshot(
    source: MarketSource, info: SymbolInfo, lookback_s: int, *, with_book: bool = False
) -> MarketSnapshot:
    now_ms = await source.now_ms(info.symbol)
    since_ms = now_ms - lookback_s * 1000
    candles = await source.candles(info.symbol, since_ms)
    if len(candles) == 0:
        raise MarketSourceError(f"{info.symbol}: no candles since {since_ms}")
    oi = await source.open_interest(info.symbol, since_ms) if info.has_open_interest else None
    brackets = await source.leverage_brackets(info.symbol)
    price = await source.mark_price(info.symbol)
    book = await source.order_book(info.symbol, BOOK_DEPTH) if with_book else None
    precision = await source.precision(info.symbol)
    return MarketSnapshot(info, now_ms, candles, oi, brackets, price, book,
                          precision=precision)


def build_maps(snapshot: MarketSnapshot, windows: dict[str, int], params: MapParams
               ) -> dict[str, LiquidationMap]:
    """The model's map of each window (name -> seconds) from one snapshot."""
    maps = {}
    oi = snapshot.open_interest
    full = snapshot.candles
    oi_full = None
    if oi is not None and len(oi):
        oi_full = open_interest_at_close(full.open_time_ms, full.interval_ms, oi.time_ms,
                                         oi.oi_quote)
    for window, seconds in windows.items():
        start_ms = snapshot.now_ms - seconds * 1000
        candles = full.since(start_ms)
        # taken from the whole snapshot, so the window's first candle has a previous OI too
        first = len(full) - len(candles)
        oi_at_close = None if oi_full is None else oi_full[first:]
        oi_before = oi_full[first - 1] if oi_full is not None and first > 0 else np.nan
        history = full.slice(0, first).since(start_ms - params.stock_lookback_ms)
        maps[window] = build_map(
            candles, oi_at_close, snapshot.brackets, snapshot.price, snapshot.now_ms, params,
            oi_before=oi_before, history=history, funding=snapshot.funding,
        )
    return maps


def encode_maps(snapshot: MarketSnapshot, maps: dict[str, LiquidationMap], params: MapParams,
                model: ModelDescription | None = None, stats: CandleStats | None = None,
                ) -> list[EncodedDocument]:
    """The documents of `build_maps`' maps, stored under the snapshot's venue (`stats`: the
    snapshot's `candle_stats`, when the caller has them)."""
    stats = stats or candle_stats(snapshot.candles, snapshot.now_ms)
    model = model or ModelDescription.of(params)
    return [encode_document(
        liq_map, exchange=snapshot.info.exchange, symbol=snapshot.info.symbol,
        window=window, quote_currency=snapshot.info.quote_currency, params=params,
        stats=stats, model=model, precision=snapshot.precision,
    ) for window, liq_map in maps.items()]


def candle_stats(candles: Candles, now_ms: int) -> CandleStats:
    """Volatility figures advice reads from the map document (recent candles, any window),
    and `data_lag_s`: how long before `now_ms` the newest candle closed (a live source that
    stops delivering candles shows here, although the map is recomputed on time)."""
    atr = hourly_atr(candles.open_time_ms, candles.high, candles.low, candles.close,
                     candles.interval_ms)
    last = float(candles.close[-1])
    stats: CandleStats = {
        "last_candle_open_ms": int(candles.open_time_ms[-1]),
        "data_lag_s": round((now_ms - int(candles.open_time_ms[-1]) - candles.interval_ms)
                            / 1000, 3),
        "candle_interval_s": candles.interval_ms / 1000,
        "atr_quote": round(atr, 10),  # ATR(14) of 1-hour bars
        "atr_pct": round(atr / last * 100, 6),
    }
    if len(candles) >= 3:
        stats["sigma_quote_per_sqrt_s"] = sigma_quote_per_sqrt_s(candles)
        stats["volume_rate_base_per_s"] = volume_rate_base_per_s(candles)
    return stats
