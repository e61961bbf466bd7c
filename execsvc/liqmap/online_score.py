"""The online score: where each realised liquidation fell in the map of that moment. Pure.

For one map (`MapBands`: its price, band edges and predicted notional per band, long + short,
quote) and one realised event (side of the liquidated position, price), `score_event` gives:

- `band_percentile`: the percentile of the event's band among all bands by predicted notional,
  `(rank - 0.5) / n` with average ranks for ties (the convention of `evaluation.scores`): a
  band picked uniformly at random has expectation 0.5, the largest band is near 1.
- `in_top_decile`: whether the band is among the map's top-decile bands: the `ceil(n / 10)`
  largest by predicted notional (bands tied with the last one included, empty bands never).
- `top_decile_width_share`: the top-decile bands' share of the map's price range, i.e. the
  chance a map spreading its notional uniformly over the range would give an event of landing
  in them. This is the baseline the realised share is read against.
- `side_match`: whether the event lies on the side the map predicts for its position: long
  liquidations below the map's price, short ones above.

Events outside the map's range get no band and count only in `in_range_share`.

`ScoreTotals` adds events up (additive fields, so hourly buckets can be summed in Redis) and
`summarise` turns totals into the rolling score: `top_decile_share` (realised notional in
top-decile bands / realised notional in range) against `uniform_share` (the notional-weighted
`top_decile_width_share`), their ratio `lift`, mean band percentiles and the side match rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

TOP_FRACTION = 0.1


@dataclass(frozen=True, slots=True)
class MapBands:
    """One map as the score reads it; arrays per band, ascending in price."""

    price: float
    low: np.ndarray
    high: np.ndarray
    notional_quote: np.ndarray
    percentile: np.ndarray
    top_decile: np.ndarray
    top_decile_width_share: float

    @classmethod
    def build(
        cls, price: float, low: np.ndarray, high: np.ndarray, notional_quote: np.ndarray
    ) -> MapBands:
        low = np.asarray(low, dtype=np.float64)
        high = np.asarray(high, dtype=np.float64)
        notional = np.asarray(notional_quote, dtype=np.float64)
        percentile = band_percentiles(notional)
        top = top_decile_mask(notional)
        width = high - low
        total_width = float(width.sum())
        share = float(width[top].sum() / total_width) if total_width > 0 else 0.0
        return cls(float(price), low, high, notional, percentile, top, share)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> MapBands:
        """From a stored map document (`price`, `bands[]` with `price_low`, `price_high`,
        `long_notional_quote`, `short_notional_quote`)."""
        bands = document["bands"]
        return cls.build(
            document["price"],
            np.array([b["price_low"] for b in bands], dtype=np.float64),
            np.array([b["price_high"] for b in bands], dtype=np.float64),
            np.array([b["long_notional_quote"] + b["short_notional_quote"] for b in bands],
                     dtype=np.float64),
        )

    def band_of(self, price: float) -> int | None:
        """Index of the band holding `price` (`low <= price < high`; the top edge belongs to
        the last band), or None outside the range."""
        if len(self.low) == 0 or price < self.low[0] or price > self.high[-1]:
            return None
        index = int(np.searchsorted(self.low, price, side="right")) - 1
        return min(max(index, 0), len(self.low) - 1)


def band_percentiles(notional: np.ndarray) -> np.ndarray:
    """`(average rank - 0.5) / n` of each band's notional among all bands."""
    values = np.asarray(notional, dtype=np.float64)
    n = len(values)
    if n == 0:
        return values.copy()
    order = np.sort(values)
    less = np.searchsorted(order, values, side="left")
    equal = np.searchsorted(order, values, side="right") - less
    return (less + equal / 2.0) / n


def top_decile_mask(notional: np.ndarray) -> np.ndarray:
    """The `ceil(n * TOP_FRACTION)` largest bands, ties with the last one included, empty
    (zero-notional) bands never."""
    values = np.asarray(notional, dtype=np.float64)
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    count = math.ceil(len(values) * TOP_FRACTION)
    threshold = np.sort(values)[::-1][count - 1]
    return (values >= threshold) & (values > 0)


@dataclass(frozen=True, slots=True)
class EventScore:
    band_index: int | None
    band_percentile: float | None
    in_top_decile: bool
    top_decile_width_share: float
    predicted_side: Literal["long", "short"]
    side_match: bool

    @property
    def in_range(self) -> bool:
        return self.band_index is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "band_index": self.band_index,
            "band_percentile": (None if self.band_percentile is None
                                else round(self.band_percentile, 6)),
            "in_top_decile": self.in_top_decile,
            "top_decile_width_share": round(self.top_decile_width_share, 6),
            "predicted_side": self.predicted_side,
            "side_match": self.side_match,
        }


def score_event(side: str, price: float, bands: MapBands) -> EventScore:
    """Where a liquidation of a `side` position at `price` fell in the map `bands`."""
    index = bands.band_of(price)
    predicted: Literal["long", "short"] = "long" if price < bands.price else "short"
    return EventScore(
        band_index=index,
        band_percentile=None if index is None else float(bands.percentile[index]),
        in_top_decile=index is not None and bool(bands.top_decile[index]),
        top_decile_width_share=bands.top_decile_width_share,
        predicted_side=predicted,
        side_match=side == predicted,
    )


@dataclass(frozen=True, slots=True)
class ScoreTotals:
    """Additive totals over events; notional in quote currency."""

    events: float = 0.0
    notional_quote: float = 0.0
    scored_events: float = 0.0
    scored_notional_quote: float = 0.0
    in_range_events: float = 0.0
    in_range_notional_quote: float = 0.0
    top_decile_notional_quote: float = 0.0
    uniform_top_decile_notional_quote: float = 0.0
    percentile_sum: float = 0.0
    percentile_notional_sum: float = 0.0
    side_match_events: float = 0.0
    side_match_notional_quote: float = 0.0

    @classmethod
    def of_event(cls, notional_quote: float, score: EventScore | None) -> ScoreTotals:
        """One event's contribution; `score` None when no current map could score it."""
        if score is None:
            return cls(events=1.0, notional_quote=notional_quote)
        in_range = score.in_range
        percentile = score.band_percentile or 0.0
        return cls(
            events=1.0,
            notional_quote=notional_quote,
            scored_events=1.0,
            scored_notional_quote=notional_quote,
            in_range_events=float(in_range),
            in_range_notional_quote=notional_quote if in_range else 0.0,
            top_decile_notional_quote=notional_quote if score.in_top_decile else 0.0,
            uniform_top_decile_notional_quote=(
                notional_quote * score.top_decile_width_share if in_range else 0.0),
            percentile_sum=percentile,
            percentile_notional_sum=percentile * notional_quote,
            side_match_events=float(score.side_match),
            side_match_notional_quote=notional_quote if score.side_match else 0.0,
        )

    def as_fields(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_fields(cls, data: dict[str, float]) -> ScoreTotals:
        """Totals from stored fields (unknown names ignored, missing ones zero)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in data.items() if k in names})

    def __add__(self, other: ScoreTotals) -> ScoreTotals:
        return ScoreTotals(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                              for f in fields(self)})


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def summarise(totals: ScoreTotals) -> dict[str, Any]:
    """The rolling score from totals; a ratio without events is None."""
    top = _ratio(totals.top_decile_notional_quote, totals.in_range_notional_quote)
    uniform = _ratio(totals.uniform_top_decile_notional_quote, totals.in_range_notional_quote)
    return {
        "events": int(totals.events),
        "scored_events": int(totals.scored_events),
        "in_range_events": int(totals.in_range_events),
        "realised_notional_quote": round(totals.notional_quote, 2),
        "in_range_share": _rounded(
            _ratio(totals.in_range_notional_quote, totals.scored_notional_quote)),
        "top_decile_share": _rounded(top),
        "uniform_share": _rounded(uniform),
        "lift": _rounded(None if top is None or not uniform else top / uniform, 4),
        "mean_band_percentile": _rounded(
            _ratio(totals.percentile_sum, totals.in_range_events)),
        "notional_weighted_band_percentile": _rounded(
            _ratio(totals.percentile_notional_sum, totals.in_range_notional_quote)),
        "side_match_rate": _rounded(_ratio(totals.side_match_events, totals.scored_events)),
        "side_match_notional_share": _rounded(
            _ratio(totals.side_match_notional_quote, totals.scored_notional_quote)),
    }
