"""Per-day predictions: the map as the worker builds it at 00:00 UTC, read at the day's range.

For a truth day D of a coin:
- the snapshot holds what was known strictly before D 00:00: candles closed by then, and open
  interest samples stamped t taken as known from `t + OI_KNOWN_AFTER_MS` (their time is moved
  to that moment, so the worker's alignment of OI to candle closes sees each sample only once
  it is known); the price is the close of the last candle;
- the map documents come from `venue_build.build_venue`, the worker's own code path (the
  venue's margin rules and liquidation formula); with several venues (`predict_all_venues`),
  each venue's map is built from its own market with its own rules and the maps are summed
  as the worker sums them (`maps.aggregate.aggregate_documents`: around the median of the
  venues' marks); the day's
  range is read on the first venue's candles and the naive baseline takes the venues' summed
  open interest. No venue is dropped for lag here: a venue without data for the day skips it;
- predicted long = the document's cumulative long notional from its price down to D's low
  (bands fully crossed count whole, the band holding the low in proportion to the part
  crossed), plus the document's same-day churn liquidated by D's range, or, with
  `churn_reading="path"`, along D's candles (`execsvc.liqmap.churn`; zero when the model's
  churn rate is zero); predicted short = the same up to D's high; the bands alone are kept
  too (`bands_long`, `bands_short`);
- funding samples (when the market has them) are known like open interest: stamped t, known
  from `t + FUNDING_KNOWN_AFTER_MS`;
- **naive** = the last known OI at D 00:00 times `(open - low) / open` (longs) and
  `(high - open) / open` (shorts);
- **shape removed** = the document's binned side totals spread evenly over its range:
  `total * min(move, range) / range`, `move` relative to the map's price.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson

from execsvc.evaluation.inputs import DAY_MS, CoinMarket, TruthDay, day_candles
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.churn import churn_liquidated, churn_liquidated_on_path
from execsvc.liqmap.funding import CROWDING_SPAN_MS, FundingRates
from execsvc.liqmap.model import MapParams
from execsvc.liqmap.venue_rules import venue_brackets
from execsvc.maps.aggregate import aggregate_documents
from execsvc.maps.refresh import MarketSnapshot, snapshot_lookback_s
from execsvc.maps.venue_build import VenueModels, build_venue
from execsvc.market.types import OpenInterest, SymbolInfo

OI_KNOWN_AFTER_MS = 3_600_000
"""An open-interest sample stamped t is taken as known from t + 1 h."""
ChurnReading = Literal["range", "path"]
FUNDING_KNOWN_AFTER_MS = 3_600_000
"""A funding sample stamped t is taken as known from t + 1 h (as open interest)."""


@dataclass(frozen=True, slots=True)
class DayPrediction:
    """One (coin, day): predictions, baselines and what happened (quote notional, prices)."""

    date: dt.date
    coin: str
    predicted_long: float
    predicted_short: float
    realized_long: float
    realized_short: float
    naive_long: float
    naive_short: float
    shape_long: float
    shape_short: float
    bands_long: float
    bands_short: float
    open: float
    high: float
    low: float
    oi_quote: float
    price: float
    long_cluster_distance: float
    short_cluster_distance: float
    liq_count: float = math.nan


def known_open_interest(market: CoinMarket, now_ms: int, since_ms: int) -> OpenInterest:
    """Samples known at `now_ms` (stamp + `OI_KNOWN_AFTER_MS` <= now), stamped from `since_ms`,
    with their time moved to when they became known."""
    oi = market.open_interest
    known_ms = oi.time_ms + OI_KNOWN_AFTER_MS
    keep = (known_ms <= now_ms) & (oi.time_ms >= since_ms)
    return OpenInterest(known_ms[keep], oi.oi_quote[keep])


def known_funding(market: CoinMarket, now_ms: int, since_ms: int) -> FundingRates | None:
    """Funding samples known at `now_ms`, known from `since_ms - CROWDING_SPAN_MS` on (so the
    first candle's trailing mean is complete), stamped with when they became known."""
    if market.funding is None:
        return None
    known_ms = market.funding.time_ms + FUNDING_KNOWN_AFTER_MS
    keep = (known_ms <= now_ms) & (known_ms > since_ms - CROWDING_SPAN_MS)
    return FundingRates(known_ms[keep], market.funding.rate_per_h[keep])


def snapshot_at(
    market: CoinMarket, now_ms: int, lookback_s: int, venue: str
) -> MarketSnapshot:
    """What the worker would have fetched for `market` at `now_ms` (see the module docstring)."""
    since_ms = now_ms - lookback_s * 1000
    candles = market.candles
    closed = int(np.searchsorted(candles.open_time_ms, now_ms - candles.interval_ms,
                                 side="right"))
    window = candles.slice(0, closed).since(since_ms)
    info = SymbolInfo(market.coin, venue, "USD", True)
    return MarketSnapshot(
        info=info, now_ms=now_ms, candles=window,
        open_interest=known_open_interest(market, now_ms, since_ms),
        brackets=venue_brackets(venue, market.coin), price=float(window.close[-1]),
        funding=known_funding(market, now_ms, since_ms),
    )


def _band_arrays(document: dict[str, Any], side: str) -> tuple[np.ndarray, ...]:
    bands = document["bands"]
    low = np.array([b["price_low"] for b in bands])
    high = np.array([b["price_high"] for b in bands])
    own = np.array([b[f"{side}_notional_quote"] for b in bands])
    cum = np.array([b[f"cum_{side}_notional_quote"] for b in bands])
    return low, high, own, cum


def cumulative_to(document: dict[str, Any], target: float, side: str) -> float:
    """Notional the document says is liquidated if the price moves from its `price` to
    `target` (down for `long`, up for `short`); the band holding `target` counts in proportion
    to the part crossed; beyond the grid, everything binned on that side."""
    price = document["price"]
    low, high, own, cum = _band_arrays(document, side)
    half = len(low) // 2
    if side == "long":
        if target >= price:
            return 0.0
        lows, highs, owns, cums = low[:half], high[:half], own[:half], cum[:half]
        if target <= lows[0]:
            return float(cums[0])
        k = int(np.searchsorted(lows, target, side="right")) - 1
        uncrossed = (target - lows[k]) / (highs[k] - lows[k])
        return float(cums[k] - owns[k] * uncrossed)
    if side == "short":
        if target <= price:
            return 0.0
        lows, highs, owns, cums = low[half:], high[half:], own[half:], cum[half:]
        if target >= highs[-1]:
            return float(cums[-1])
        k = int(np.searchsorted(highs, target, side="left"))
        uncrossed = (highs[k] - target) / (highs[k] - lows[k])
        return float(cums[k] - owns[k] * uncrossed)
    raise ValueError(f"side must be 'long' or 'short', not {side!r}")


def shape_removed(document: dict[str, Any], target: float, side: str) -> float:
    """The side's binned total spread evenly over the map's range (see module docstring)."""
    price = document["price"]
    span = document["range_pct"] / 100.0
    move = (price - target) / price if side == "long" else (target - price) / price
    total = document["totals"][f"{side}_notional_quote"]
    return float(total * min(max(move, 0.0), span) / span)


def document_churn(document: dict[str, Any], day: Candles,
                   reading: ChurnReading = "range") -> tuple[float, float]:
    """(long, short) same-day churn the document's `churn` section liquidates over the `day`:
    read by its range `[low, high]`, or along its candles with `reading="path"`."""
    churn = document["churn"]
    args = (churn["opened_long_quote"], churn["opened_short_quote"],
            np.array(churn["long_liquidation_ratio"]), np.array(churn["short_liquidation_ratio"]),
            np.array(churn["leverage_weights"]))
    if reading == "path":
        return churn_liquidated_on_path(*args, day.low, day.high)
    if reading == "range":
        return churn_liquidated(*args, float(day.low.min()), float(day.high.max()))
    raise ValueError(f"churn reading must be 'range' or 'path', not {reading!r}")


def nearest_top_cluster_distance(document: dict[str, Any], side: str, top: int = 3) -> float:
    """Relative distance from the price to the near edge of the nearest of the side's `top`
    largest clusters; NaN when the side has none."""
    clusters = sorted((c for c in document["clusters"] if c["side"] == side),
                      key=lambda c: c["rank"])[:top]
    if not clusters:
        return math.nan
    return min(c["distance_pct"] for c in clusters) / 100.0


def window_is_full(market: CoinMarket, day_start_ms: int, window_s: int) -> bool:
    """Whether open interest was known for the whole window before the day (including the
    sample at the window's start, which gives the first candle its previous OI)."""
    first_known = int(market.open_interest.time_ms[0]) + OI_KNOWN_AFTER_MS
    return first_known <= day_start_ms - window_s * 1000


def day_document(markets: Mapping[str, CoinMarket], start_ms: int, windows: dict[str, int],
                 params: MapParams) -> tuple[dict[str, Any], float] | str:
    """The map document at `start_ms` (one venue's, or the venues' sum) and the open interest
    known then (quote, summed over the venues), or the reason there is none."""
    lookback = snapshot_lookback_s(windows, params)
    snapshots = {venue: snapshot_at(market, start_ms, lookback, venue)
                 for venue, market in markets.items()}
    for venue, snapshot in snapshots.items():
        if len(snapshot.open_interest) == 0:
            return "no open interest known before the day" + (
                f" ({venue})" if len(snapshots) > 1 else "")
    oi_quote = sum(float(s.open_interest.oi_quote[-1]) for s in snapshots.values())
    models = VenueModels(params)
    builds = [build_venue(snapshot, windows, models) for snapshot in snapshots.values()]
    if len(builds) == 1:
        return orjson.loads(builds[0].documents[0].json), oi_quote
    coin = next(iter(markets.values())).coin
    documents, missing = aggregate_documents(coin, builds, list(windows), params, math.inf,
                                             models.model)
    if not documents:
        return missing or "no venue to sum"
    return orjson.loads(documents[0].json), oi_quote


def predict_day(
    markets: CoinMarket | Mapping[str, CoinMarket], truth: TruthDay, window: str,
    window_s: int, params: MapParams, venue: str = "hyperliquid",
    churn_reading: ChurnReading = "range",
) -> DayPrediction | str:
    """The prediction for one truth day, or the reason it cannot be evaluated: `markets` is
    one market priced with `venue`'s rules, or venue -> market (the venues' sum)."""
    if isinstance(markets, CoinMarket):
        markets = {venue: markets}
    start = truth.start_ms
    reference = next(iter(markets.values()))
    day = day_candles(reference.candles, start)
    if day is None:
        return "candles do not cover the day"
    for name, market in markets.items():
        if not window_is_full(market, start, window_s):
            return f"open interest does not cover the {window} window before the day" + (
                f" ({name})" if len(markets) > 1 else "")
    found = day_document(markets, start, {window: window_s}, params)
    if isinstance(found, str):
        return found
    document, oi_quote = found
    open_, high, low = float(day.open[0]), float(day.high.max()), float(day.low.min())
    bands_long = cumulative_to(document, low, "long")
    bands_short = cumulative_to(document, high, "short")
    churn_long, churn_short = document_churn(document, day, churn_reading)
    return DayPrediction(
        date=truth.date, coin=truth.coin,
        predicted_long=bands_long + churn_long,
        predicted_short=bands_short + churn_short,
        bands_long=bands_long, bands_short=bands_short,
        realized_long=truth.long_quote, realized_short=truth.short_quote,
        naive_long=oi_quote * (open_ - low) / open_,
        naive_short=oi_quote * (high - open_) / open_,
        shape_long=shape_removed(document, low, "long"),
        shape_short=shape_removed(document, high, "short"),
        open=open_, high=high, low=low, oi_quote=oi_quote, price=document["price"],
        long_cluster_distance=nearest_top_cluster_distance(document, "long"),
        short_cluster_distance=nearest_top_cluster_distance(document, "short"),
        liq_count=truth.liq_count,
    )


def predict_all_venues(
    venue_markets: Mapping[str, dict[str, CoinMarket]], truth: list[TruthDay], window: str,
    window_s: int, params: MapParams, churn_reading: ChurnReading = "range",
) -> tuple[list[DayPrediction], list[dict[str, str]]]:
    """Predictions for every evaluable truth day from the venues' summed maps (venue -> coin
    -> market; one venue: its own map), and the skipped days with their reasons."""
    predictions: list[DayPrediction] = []
    skipped: list[dict[str, str]] = []
    for day in truth:
        markets = {venue: by_coin[day.coin] for venue, by_coin in venue_markets.items()
                   if day.coin in by_coin}
        outcome = (predict_day(markets, day, window, window_s, params,
                               churn_reading=churn_reading)
                   if markets else "no venue has market data for the coin")
        if isinstance(outcome, str):
            skipped.append({"date": day.date.isoformat(), "coin": day.coin, "reason": outcome})
        else:
            predictions.append(outcome)
    return predictions, skipped


def predict_all(
    markets: dict[str, CoinMarket], truth: list[TruthDay], window: str, window_s: int,
    params: MapParams, venue: str, churn_reading: ChurnReading = "range",
) -> tuple[list[DayPrediction], list[dict[str, str]]]:
    """`predict_all_venues` of one venue's markets (coin -> market), priced with `venue`'s
    margin rules."""
    return predict_all_venues({venue: markets}, truth, window, window_s, params, churn_reading)


__all__ = ["DAY_MS", "DayPrediction", "predict_all", "predict_all_venues", "predict_day"]
