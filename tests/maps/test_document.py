"""The encoded map document against a plain per-band reference: the same JSON bytes, head and
history snapshot, on random maps of every size, price scale and leverage mix."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.brackets import BINANCE_USDM_BRACKETS
from execsvc.domain.units import MarketPrecision, iso_utc, price_decimals, significant
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.model import MapParams, build_map, model_parameters, model_version
from execsvc.maps.document import encode_document, map_document

HOUR = 3_600_000


def reference_document(liq_map, *, exchange, symbol, window, quote_currency, params, stats,
                       precision=None):
    """The document built the plain way: one dict per band, Python `round` for clusters."""
    decimals = price_decimals(liq_map.price)
    edges = np.round(liq_map.grid.edges(), decimals).tolist()
    columns = zip(
        edges[:-1], edges[1:],
        np.round(liq_map.long_notional, 2).tolist(), np.round(liq_map.short_notional, 2).tolist(),
        np.round(liq_map.by_leverage.T, 2).tolist(),
        np.round(liq_map.cum_long, 2).tolist(), np.round(liq_map.cum_short, 2).tolist(),
        np.round(liq_map.intensity, 4).tolist(), strict=True,
    )
    keys = ("price_low", "price_high", "long_notional_quote", "short_notional_quote",
            "notional_by_leverage_quote", "cum_long_notional_quote", "cum_short_notional_quote",
            "intensity")
    oi = liq_map.open_interest_quote
    opened = params.churn_rate_per_day * oi if math.isfinite(oi) else 0.0
    share = liq_map.churn_long_share
    return {
        "exchange": exchange, "symbol": symbol, "window": window, "model": liq_map.model,
        "model_version": model_version(params), "quote_currency": quote_currency,
        "price": round(liq_map.price, decimals), "data_end": iso_utc(liq_map.data_end_ms),
        "data_end_ms": liq_map.data_end_ms, "candles_used": liq_map.candles_used,
        "bin_width_bps": liq_map.grid.bin_width_bps, "range_pct": params.range_pct,
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
                for lev, w in zip(liq_map.leverages, liq_map.leverage_weights, strict=True)},
            **model_parameters(params),
        },
        "churn": {
            "rate_per_day": params.churn_rate_per_day,
            "opened_per_side_quote": round(opened / 2.0, 2),
            "long_share": round(share, 6),
            "opened_long_quote": round(opened * share, 2),
            "opened_short_quote": round(opened * (1.0 - share), 2),
            "leverage_weights": np.round(liq_map.leverage_weights, 6).tolist(),
            "long_liquidation_ratio": np.round(liq_map.long_ratios, 8).tolist(),
            "short_liquidation_ratio": np.round(liq_map.short_ratios, 8).tolist(),
        },
        "clusters": [
            {"side": c.side, "price_low": round(c.price_low, decimals),
             "price_high": round(c.price_high, decimals),
             "peak_price": round(c.peak_price, decimals),
             "notional_quote": round(c.notional_quote, 2), "intensity": round(c.intensity, 4),
             "distance_pct": round(c.distance_pct, 4), "rank": c.rank}
            for c in liq_map.clusters
        ],
        "bands": [dict(zip(keys, row, strict=True)) for row in columns],
        "stats": stats,
        "precision": precision.to_json() if precision else None,
    }


def history_snapshot(document: dict) -> dict:
    """The heatmap snapshot read from a document's bands, the plain way."""
    bands = document["bands"]
    return {
        "t_ms": document["data_end_ms"],
        "price": document["price"],
        "low": bands[0]["price_low"],
        "width": bands[0]["price_high"] - bands[0]["price_low"],
        "values": [round(b["long_notional_quote"] + b["short_notional_quote"]) for b in bands],
    }


STATS = {"last_candle_open_ms": 7, "data_lag_s": 0.5, "candle_interval_s": 3600.0,
         "atr_quote": 12.5, "atr_pct": 0.25, "sigma_quote_per_sqrt_s": float("nan")}


def random_map(seed: int, price_scale: float, leverages: int, bin_width_bps: float,
               with_oi: bool):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    closes = price_scale * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    opens = np.concatenate(([closes[0]], closes[:-1]))
    high = np.maximum(opens, closes) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(opens, closes) * (1 - rng.uniform(0, 0.01, n))
    candles = Candles(np.arange(n, dtype=np.int64) * HOUR, opens, high, low, closes,
                      rng.uniform(1, 100, n), np.full(n, np.nan), HOUR)
    mix = dict(zip([2.0, 5.0, 10.0, 20.0, 50.0, 100.0][:leverages],
                   rng.uniform(0.05, 1.0, leverages).tolist(), strict=True))
    params = MapParams(leverage_mix=mix, bin_width_bps=bin_width_bps,
                       range_pct=float(rng.choice([5.0, 20.0])), side_split="even",
                       churn_rate_per_day=0.1, cap_leverage_to_venue=True)
    oi = 1e7 * np.cumprod(rng.uniform(0.9, 1.1, n)) if with_oi else None
    return build_map(candles, oi, BINANCE_USDM_BRACKETS["BTCUSDT"], float(closes[-1]),
                     n * HOUR, params), params


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.00012, 0.37, 1.0, 3_000.0, 91_000.0]),
       st.integers(1, 6), st.sampled_from([1.0, 10.0, 25.0]), st.booleans(),
       st.sampled_from([None, MarketPrecision(0.1, 0.001), MarketPrecision(1e-05, 1.0)]))
def test_encoded_document_is_the_reference_document(seed, scale, leverages, width, with_oi,
                                                    precision):
    liq_map, params = random_map(seed, scale, leverages, width, with_oi)
    fields = {"exchange": "binanceusdm", "symbol": "XUSDT", "window": "7d",
              "quote_currency": "USDT", "params": params, "stats": dict(STATS),
              "precision": precision}
    reference = reference_document(liq_map, **fields)
    encoded = encode_document(liq_map, **fields)
    assert encoded.json == orjson.dumps(reference)
    assert encoded.head == {k: v for k, v in reference.items() if k != "bands"}
    assert encoded.history == history_snapshot(orjson.loads(orjson.dumps(reference)))
    assert map_document(liq_map, **fields) == orjson.loads(orjson.dumps(reference))


def test_nan_statistics_are_null_as_in_any_json_document() -> None:
    liq_map, params = random_map(1, 100.0, 3, 10.0, True)
    encoded = encode_document(liq_map, exchange="x", symbol="y", window="1d",
                              quote_currency="USDT", params=params, stats=dict(STATS))
    assert orjson.loads(encoded.json)["stats"]["sigma_quote_per_sqrt_s"] is None


def test_a_long_band_above_the_price_is_refused_not_written_as_zero() -> None:
    liq_map, params = random_map(2, 100.0, 2, 10.0, True)
    broken = liq_map.long_notional.copy()
    broken[-1] = 5.0
    with pytest.raises(ValueError, match="above the price"):
        encode_document(dataclasses.replace(liq_map, long_notional=broken), exchange="x",
                        symbol="y", window="1d", quote_currency="USDT", params=params,
                        stats=dict(STATS))
