"""One symbol's refresh, shared by the worker, `execsvc map` and the benchmark: fetch the
market data a map needs, then build one `MapDocument` per window (pure, CPU-bound)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from execsvc.domain.book import OrderBook
from execsvc.domain.brackets import Bracket
from execsvc.domain.map_document import Band, CandleStats, Churn, ClusterDoc, MapDocument
from execsvc.domain.units import MarketPrecision, iso_utc, price_decimals, significant
from execsvc.execution.impact import sigma_quote_per_sqrt_s, volume_rate_base_per_s
from execsvc.execution.market_stats import hourly_atr
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.clusters import Cluster
from execsvc.liqmap.cohorts import open_interest_at_close
from execsvc.liqmap.funding import FundingRates
from execsvc.liqmap.model import (
    LiquidationMap,
    MapParams,
    build_map,
    model_parameters,
    model_version,
)
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


def _bands(liq_map: LiquidationMap, decimals: int) -> list[Band]:
    edges = np.round(liq_map.grid.edges(), decimals).tolist()
    columns = zip(
        edges[:-1],
        edges[1:],
        np.round(liq_map.long_notional, 2).tolist(),
        np.round(liq_map.short_notional, 2).tolist(),
        np.round(liq_map.by_leverage.T, 2).tolist(),
        np.round(liq_map.cum_long, 2).tolist(),
        np.round(liq_map.cum_short, 2).tolist(),
        np.round(liq_map.intensity, 4).tolist(),
        strict=True,
    )
    keys = (
        "price_low", "price_high", "long_notional_quote", "short_notional_quote",
        "notional_by_leverage_quote", "cum_long_notional_quote", "cum_short_notional_quote",
        "intensity",
    )
    return [Band(**dict(zip(keys, row, strict=True))) for row in columns]


def cluster_doc(cluster: Cluster, decimals: int) -> ClusterDoc:
    return ClusterDoc(
        side=cluster.side,
        price_low=round(cluster.price_low, decimals),
        price_high=round(cluster.price_high, decimals),
        peak_price=round(cluster.peak_price, decimals),
        notional_quote=round(cluster.notional_quote, 2),
        intensity=round(cluster.intensity, 4),
        distance_pct=round(cluster.distance_pct, 4),
        rank=cluster.rank,
    )


def map_document(
    liq_map: LiquidationMap,
    *,
    exchange: str,
    symbol: str,
    window: str,
    quote_currency: str,
    params: MapParams,
    stats: CandleStats,
    precision: MarketPrecision | None = None,
) -> MapDocument:
    """Everything about one map except `version`/`computed_at` (the store adds those) and
    `age_s`/`stale` (the API adds those when it answers)."""
    decimals = price_decimals(liq_map.price)
    return {
        "exchange": exchange,
        "symbol": symbol,
        "window": window,
        "model": liq_map.model,
        "model_version": model_version(params),
        "quote_currency": quote_currency,
        "price": round(liq_map.price, decimals),
        "data_end": iso_utc(liq_map.data_end_ms),
        "data_end_ms": liq_map.data_end_ms,
        "candles_used": liq_map.candles_used,
        "bin_width_bps": liq_map.grid.bin_width_bps,
        "range_pct": params.range_pct,
        "leverages": liq_map.leverages.tolist(),
        "totals": {
            "long_notional_quote": round(float(liq_map.long_notional.sum()), 2),
            "short_notional_quote": round(float(liq_map.short_notional.sum()), 2),
            "out_of_range_long_quote": round(liq_map.out_of_range_long, 2),
            "out_of_range_short_quote": round(liq_map.out_of_range_short, 2),
        },
        "assumptions": {
            "liquidation_formula": params.formula,
            "position_notional_quote": params.position_notional_quote,
            "leverage_mix": {str(lev): significant(w)
                             for lev, w in sorted(params.leverage_mix.items())},
            "effective_leverage_mix": {
                str(lev): round(float(w), 6)
                for lev, w in zip(liq_map.leverages, liq_map.leverage_weights, strict=True)
            },
            **model_parameters(params),
        },
        "churn": _churn(liq_map, params),
        "clusters": [cluster_doc(c, decimals) for c in liq_map.clusters],
        "bands": _bands(liq_map, decimals),
        "stats": stats,
        "precision": precision.to_json() if precision else None,
    }


def _churn(liq_map: LiquidationMap, params: MapParams) -> Churn:
    """Same-day churn (`execsvc.liqmap.churn`): new positions over the coming day (their mean
    per side, and long and short by the map's long share) and the liquidation ratio (LP / entry)
    of each leverage, for reading with a day's range."""
    oi = liq_map.open_interest_quote
    opened = params.churn_rate_per_day * oi if math.isfinite(oi) else 0.0
    share = liq_map.churn_long_share
    return {
        "rate_per_day": params.churn_rate_per_day,
        "opened_per_side_quote": round(opened / 2.0, 2),
        "long_share": round(share, 6),
        "opened_long_quote": round(opened * share, 2),
        "opened_short_quote": round(opened * (1.0 - share), 2),
        "leverage_weights": np.round(liq_map.leverage_weights, 6).tolist(),
        "long_liquidation_ratio": np.round(liq_map.long_ratios, 8).tolist(),
        "short_liquidation_ratio": np.round(liq_map.short_ratios, 8).tolist(),
    }


def build_documents(
    snapshot: MarketSnapshot, windows: dict[str, int], params: MapParams
) -> list[MapDocument]:
    """One map document per window (name -> seconds), newest candles last."""
    documents = []
    oi = snapshot.open_interest
    full = snapshot.candles
    stats = candle_stats(snapshot.candles, snapshot.now_ms)
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
        liq_map = build_map(
            candles, oi_at_close, snapshot.brackets, snapshot.price, snapshot.now_ms, params,
            oi_before=oi_before, history=history, funding=snapshot.funding,
        )
        documents.append(map_document(
            liq_map, exchange=snapshot.info.exchange, symbol=snapshot.info.symbol,
            window=window, quote_currency=snapshot.info.quote_currency, params=params,
            stats=stats, precision=snapshot.precision,
        ))
    return documents


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
