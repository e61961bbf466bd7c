"""The map document from a `LiquidationMap`, encoded as the JSON bytes the worker stores.

The bands (400 at the defaults, 8 fields each) are most of a document. They are written column
by column: each column is rounded as a numpy array, orjson turns it into JSON numbers in one
call (the same text as for Python floats), and the numbers are laid between the fixed key text
of a band by list slicing, so no per-band dict or float object is made (`_band_parts`).
Everything else (the head: price, model, totals, clusters, churn, stats) is a small dict.

`encode_document` gives an `EncodedDocument`: the bytes, the head (read by the summary and the
freshness fields) and the history snapshot, so nothing parses the bytes back. `map_document`
is the same document as a dict (the bytes parsed), for the CLI, the evaluation and tests.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass

import numpy as np
import orjson

from execsvc.domain.map_document import (
    CandleStats,
    Churn,
    ClusterDoc,
    DroppedVenue,
    EncodedDocument,
    HistorySnapshot,
    MapDocument,
    MapHead,
    VenueStatus,
)
from execsvc.domain.units import (
    MarketPrecision,
    iso_utc,
    price_decimals,
    round_like_builtin,
    significant,
)
from execsvc.liqmap.aggregate import AggregateMap
from execsvc.liqmap.clusters import Cluster
from execsvc.liqmap.model import LiquidationMap, MapParams, model_parameters, model_version

_NUMPY = orjson.OPT_SERIALIZE_NUMPY

BAND_FIELDS = (
    "price_low", "price_high", "long_notional_quote", "short_notional_quote",
    "notional_by_leverage_quote", "cum_long_notional_quote", "cum_short_notional_quote",
    "intensity",
)
"""The fields of a band, in the order `domain.map_document.Band` and the JSON have them."""





def _band_keys(zero_field_pairs: tuple[str, str]) -> list[bytes]:
    """The fixed text before each value of a band whose `zero_field_pairs` (a notional and its
    cumulative curve) are zero and written into the text; the first band's comma is cut."""
    keys: list[bytes] = []
    text = b",{"
    for name in BAND_FIELDS:
        text += orjson.dumps(name) + b":"
        if name in zero_field_pairs:
            text += b"0.0,"
            continue
        keys.append(text + (b"[" if name == "notional_by_leverage_quote" else b""))
        text = b"]," if name == "notional_by_leverage_quote" else b","
    return keys


_BELOW_PRICE_KEYS = _band_keys(("short_notional_quote", "cum_short_notional_quote"))
_ABOVE_PRICE_KEYS = _band_keys(("long_notional_quote", "cum_long_notional_quote"))
_VALUES_PER_BAND = len(_BELOW_PRICE_KEYS)
_STRIDE = 2 * _VALUES_PER_BAND + 1  # key, value, ..., key, value, "}"


@functools.lru_cache(maxsize=16)
def _skeleton(n_side: int) -> tuple[bytes, ...]:
    """The pieces of `2 * n_side` bands with their fixed text in place and empty values."""
    parts = [b"}"] * (2 * _STRIDE * n_side)
    middle = _STRIDE * n_side
    for j in range(_VALUES_PER_BAND):
        parts[2 * j : middle : _STRIDE] = [_BELOW_PRICE_KEYS[j]] * n_side
        parts[middle + 2 * j :: _STRIDE] = [_ABOVE_PRICE_KEYS[j]] * n_side
        parts[2 * j + 1 :: _STRIDE] = [b""] * (2 * n_side)
    parts[0] = parts[0][1:]
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class ModelDescription:
    """What every document of one `MapParams` states about the model (computed once)."""

    version: str
    parameters: dict[str, object]
    leverage_mix: dict[str, float]

    @classmethod
    def of(cls, params: MapParams) -> ModelDescription:
        return cls(
            version=model_version(params),
            parameters=model_parameters(params),
            leverage_mix={str(lev): significant(w)
                          for lev, w in sorted(params.leverage_mix.items())},
        )


def _numbers(values: np.ndarray) -> list[bytes]:
    """The JSON text of each element of a 1-d float array (orjson's format: NaN is null)."""
    return orjson.dumps(values, option=_NUMPY)[1:-1].split(b",")


def _rows(values: np.ndarray) -> list[bytes]:
    """The JSON text of each row of a C-ordered 2-d float array, without brackets (`1.5,2`)."""
    return orjson.dumps(values, option=_NUMPY)[2:-2].split(b"],[")


def _band_parts(liq_map: LiquidationMap, edges: np.ndarray) -> tuple[list[bytes], np.ndarray]:
    """The text of the `bands` array's items, in pieces to join, from the rounded `edges`; and
    each band's notional (its side's; rounded to cents as written).

    Below the price only long liquidations exist and above it only short ones (the binning
    holds each side to its half; `cumulative_outward` builds each curve on its own half only),
    so each band has one side's notional and curve; the other side's zeros are part of the
    fixed text."""
    n_side = liq_map.grid.n_side
    if liq_map.long_notional[n_side:].any() or liq_map.short_notional[:n_side].any():
        raise ValueError("a long liquidation band above the price or a short one below it")
    edge_text = _numbers(edges)
    side = np.round(np.concatenate((liq_map.long_notional[:n_side],
                                    liq_map.short_notional[n_side:])), 2)
    curve = np.concatenate((liq_map.cum_long[:n_side], liq_map.cum_short[n_side:]))
    by_leverage = np.empty((liq_map.grid.n_bins, len(liq_map.leverages)))
    np.round(liq_map.by_leverage.T, 2, out=by_leverage)
    columns = (
        edge_text[:-1],
        edge_text[1:],
        _numbers(side),
        _rows(by_leverage),
        _numbers(np.round(curve, 2)),
        _numbers(np.round(liq_map.intensity, 4)),
    )
    parts = list(_skeleton(n_side))
    for j, column in enumerate(columns):
        parts[2 * j + 1 :: _STRIDE] = column
    return parts, side


_CLUSTER_NUMBERS = operator.attrgetter("price_low", "price_high", "peak_price", "notional_quote",
                                       "intensity", "distance_pct")


def cluster_docs(clusters: list[Cluster], decimals: int) -> list[ClusterDoc]:
    """The clusters as the document has them: prices to `decimals`, notional to cents,
    intensity and distance to 4 decimals (as `round` does, see `round_like_builtin`)."""
    if not clusters:
        return []
    table = np.array(list(map(_CLUSTER_NUMBERS, clusters)))
    rounded = round_like_builtin(table, np.array([decimals] * 3 + [2, 4, 4])).tolist()
    return [
        {"side": c.side, "price_low": low, "price_high": high,  # type: ignore[typeddict-item]
         "peak_price": peak, "notional_quote": amount, "intensity": intensity,
         "distance_pct": distance, "rank": c.rank}
        for c, (low, high, peak, amount, intensity, distance)
        in zip(clusters, rounded, strict=True)
    ]


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


def _head(liq_map: LiquidationMap, *, exchange: str, symbol: str, window: str,
          quote_currency: str, params: MapParams, model: ModelDescription, decimals: int,
          ) -> dict[str, object]:
    """Every field before `bands`, in the document's order."""
    return {
        "exchange": exchange,
        "symbol": symbol,
        "window": window,
        "model": liq_map.model,
        "model_version": model.version,
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
            "leverage_mix": dict(model.leverage_mix),
            "effective_leverage_mix": {
                str(lev): round(float(w), 6)
                for lev, w in zip(liq_map.leverages, liq_map.leverage_weights, strict=True)
            },
            **model.parameters,
        },
        "churn": _churn(liq_map, params),
        "clusters": cluster_docs(liq_map.clusters, decimals),
    }


def _history(liq_map: LiquidationMap, price: float, edges: np.ndarray,
             band_notional: np.ndarray) -> HistorySnapshot:
    """The heatmap snapshot: each band's notional (long + short as written in the document,
    one side of it zero) rounded to whole quote units, half to even."""
    return {
        "t_ms": liq_map.data_end_ms,
        "price": price,
        "low": float(edges[0]),
        "width": float(edges[1] - edges[0]),
        "values": np.rint(band_notional).astype(np.int64).tolist(),
    }


@dataclass(frozen=True, slots=True)
class VenueParts:
    """What an aggregated document adds to a map's: each venue's status (`venues`, in the
    configured order), each included venue's notional per band and per cluster (from
    `aggregate`), and the venue whose stats and grid it carries."""

    aggregate: AggregateMap
    venues: list[VenueStatus]
    stats_exchange: str

    def extend(self, head: dict[str, object]) -> bytes:
        """Add the venue fields to `head` (its clusters' shares included); the JSON text of
        the per-band shares that ends the document."""
        names = self.aggregate.venues
        shares = np.round(self.aggregate.cluster_by_venue, 2).tolist()
        for cluster, row in zip(head["clusters"], shares, strict=True):  # type: ignore[call-overload]
            cluster["notional_by_venue_quote"] = dict(zip(names, row, strict=True))
        head["venues"] = self.venues
        head["dropped"] = [DroppedVenue(exchange=v["exchange"], reason=v["reason"] or "")
                           for v in self.venues if not v["included"]]
        head["stats_exchange"] = self.stats_exchange
        by_band = dict(zip(names, np.round(self.aggregate.by_venue, 2), strict=True))
        return b',"notional_by_venue_quote":' + orjson.dumps(by_band, option=_NUMPY)


def encode_document(
    liq_map: LiquidationMap,
    *,
    exchange: str,
    symbol: str,
    window: str,
    quote_currency: str,
    params: MapParams,
    stats: CandleStats,
    model: ModelDescription | None = None,
    precision: MarketPrecision | None = None,
    venue_parts: VenueParts | None = None,
) -> EncodedDocument:
    """One map as stored: everything but `version`/`computed_at` (the store adds those) and
    `age_s`/`stale` (the API adds those when it answers). `model` (from `params`) can be
    passed when many documents share it. `venue_parts` makes it an aggregated document."""
    model = model or ModelDescription.of(params)
    decimals = price_decimals(liq_map.price)
    head = _head(liq_map, exchange=exchange, symbol=symbol, window=window,
                 quote_currency=quote_currency, params=params, model=model, decimals=decimals)
    tail = venue_parts.extend(head) if venue_parts is not None else b""
    edges = np.round(liq_map.grid.edges(), decimals)
    parts, band_notional = _band_parts(liq_map, edges)
    parts.insert(0, orjson.dumps(head)[:-1] + b',"bands":[')
    precision_doc = precision.to_json() if precision else None
    parts.append(b'],"stats":' + orjson.dumps(stats) + b',"precision":'
                 + orjson.dumps(precision_doc) + tail + b"}")
    head["stats"] = stats
    head["precision"] = precision_doc
    summary: MapHead = head  # type: ignore[assignment]
    return EncodedDocument(head=summary, json=b"".join(parts),
                           history=_history(liq_map, summary["price"], edges, band_notional))


def map_document(liq_map: LiquidationMap, **fields) -> MapDocument:
    """`encode_document` as a dict: the stored bytes, parsed."""
    return orjson.loads(encode_document(liq_map, **fields).json)
