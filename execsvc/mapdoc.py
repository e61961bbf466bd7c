"""The map as a JSON document: what the worker stores and `/map/{symbol}` returns.

Money fields end in `_quote` (quote currency, e.g. USDT); distances in `_pct` are percent of
the current price; `bin_width_bps` is basis points.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

from execsvc.liqmap.model import LiquidationMap, MapParams, model_parameters, model_version


def iso_utc(epoch_ms: float) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000.0, tz=UTC).isoformat().replace("+00:00", "Z")


def price_decimals(price: float) -> int:
    """Decimals that keep about seven significant digits (2 for BTC, 6 for DOGE)."""
    return int(min(10, max(2, 6 - math.floor(math.log10(price)))))


def _bands(liq_map: LiquidationMap, decimals: int) -> list[dict[str, Any]]:
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
    return [dict(zip(keys, row, strict=True)) for row in columns]


def _cluster(cluster: Any, decimals: int) -> dict[str, Any]:
    fields = asdict(cluster)
    for name in ("price_low", "price_high", "peak_price"):
        fields[name] = round(fields[name], decimals)
    fields["notional_quote"] = round(fields["notional_quote"], 2)
    fields["intensity"] = round(fields["intensity"], 4)
    fields["distance_pct"] = round(fields["distance_pct"], 4)
    return fields


def map_document(
    liq_map: LiquidationMap,
    *,
    exchange: str,
    symbol: str,
    window: str,
    quote_currency: str,
    params: MapParams,
) -> dict[str, Any]:
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
            "leverage_mix": {str(lev): w for lev, w in sorted(params.leverage_mix.items())},
            "effective_leverage_mix": {
                str(lev): round(float(w), 6)
                for lev, w in zip(liq_map.leverages, liq_map.leverage_weights, strict=True)
            },
            **model_parameters(params),
        },
        "churn": _churn(liq_map, params),
        "clusters": [_cluster(c, decimals) for c in liq_map.clusters],
        "bands": _bands(liq_map, decimals),
    }


def _churn(liq_map: LiquidationMap, params: MapParams) -> dict[str, Any]:
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


def map_summary(document: dict[str, Any]) -> dict[str, Any]:
    """A compact summary for pub/sub notices and server-sent events."""
    top = document["clusters"][:3]
    return {
        "exchange": document["exchange"],
        "symbol": document["symbol"],
        "window": document["window"],
        "model": document["model"],
        "price": document["price"],
        "data_end": document["data_end"],
        "top_clusters": [
            {k: c[k] for k in ("side", "price_low", "price_high", "notional_quote", "intensity")}
            for c in top
        ],
    }


def history_snapshot(document: dict[str, Any]) -> dict[str, Any]:
    """A compact snapshot for the heatmap over time: the band grid (`low`, `width`, one value
    per band: long + short notional, quote, whole units) at the map's data time `t_ms`."""
    bands = document["bands"]
    low = bands[0]["price_low"] if bands else document["price"]
    width = (bands[0]["price_high"] - bands[0]["price_low"]) if bands else 0.0
    return {
        "t_ms": document["data_end_ms"],
        "price": document["price"],
        "low": low,
        "width": width,
        "values": [round(b["long_notional_quote"] + b["short_notional_quote"]) for b in bands],
    }


def data_lag_exceeded(document: dict[str, Any], max_map_age_s: float) -> float | None:
    """The lag (s) of the map's newest candle when it is more than three candle intervals plus
    `max_map_age_s` behind the source's clock, else None: the map is then stale however
    recently it was recomputed."""
    stats = document.get("stats", {})
    lag = stats.get("data_lag_s")
    if lag is None:
        return None
    allowed = 3 * float(stats.get("candle_interval_s", 0.0)) + max_map_age_s
    return float(lag) if lag > allowed else None
