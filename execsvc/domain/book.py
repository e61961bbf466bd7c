"""The L2 order book (`OrderBook`, the one shape every part of the service uses) and walking
one side of it with a market order. Pure numpy, no I/O.

A buy walks the asks (ascending prices), a sell walks the bids (descending prices). `levels` is
an (n, 2) array of (price in quote units, size in base units), best price first.

For a base quantity `Q`, with cumulative sizes `C_k = s_0 + ... + s_k` and cumulative quote
notionals `N_k = p_0 s_0 + ... + p_k s_k`:

    filled      F = min(Q, C_{n-1})               (base)
    k           = first level with C_k >= F        (the last level the order touches)
    notional    = N_{k-1} + (F - C_{k-1}) * p_k    (quote)
    average     = notional / F                     (quote per base)
    slippage    = sign * (average - ref) / ref * 1e4   (bps; sign +1 buy, -1 sell)

so slippage is a cost (positive) for both sides. `ref` is the best price of the walked side
unless a `reference_price` (e.g. the mid) is given. When `Q` exceeds the book's total size the
remainder is reported as unfilled and the price figures describe the filled part only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import orjson

from execsvc.domain.units import MarketPrecision, OrderSide, order_side_sign

# Cumulative sizes are float sums; a quantity within this fraction of the book's total size
# below a cumulative boundary is treated as ending on that level (0.1 + 0.2 + 0.3 walks 3
# levels, not 3 plus a 1e-17 sliver of the fourth).
_BOUNDARY_TOLERANCE = 1e-12


class BookError(ValueError):
    """A book that cannot be used: an empty side, or crossed (best bid >= best ask)."""


@dataclass(frozen=True, slots=True)
class OrderBook:
    """An L2 book: `bids` descending and `asks` ascending, each an (n, 2) float64 array of
    (price in quote per base, size in base units). `source` says where it came from (exchange,
    replay file, ...); `version` grows whenever the stored book of a symbol changes (0 for a
    book fresh from a source); `precision` is the symbol's exchange grid (tick and lot) when
    the source knows it."""

    bids: np.ndarray
    asks: np.ndarray
    timestamp_ms: int = 0
    source: str = ""
    version: int = 0
    precision: MarketPrecision | None = None

    @classmethod
    def of(cls, bids: object, asks: object, *, timestamp_ms: int = 0, source: str = "",
           version: int = 0, precision: MarketPrecision | None = None) -> OrderBook:
        """Arrays (or nested lists, as stored in JSON) as float64 (n, 2), n may be 0."""
        return cls(levels_array(bids), levels_array(asks), int(timestamp_ms), source,
                   int(version), precision)

    @property
    def mid(self) -> float | None:
        """(best bid + best ask) / 2, or None when a side is empty."""
        if len(self.bids) == 0 or len(self.asks) == 0:
            return None
        return float((self.bids[0, 0] + self.asks[0, 0]) / 2.0)

    def side_for(self, order_side: str) -> np.ndarray:
        """The levels an order of `order_side` takes from: asks for a buy, bids for a sell."""
        return self.asks if order_side == "buy" else self.bids

    def cleaned(self) -> OrderBook:
        """The book as stored for advice and paper fills: finite levels with size > 0, one per
        price (sizes of equal prices summed), best first. Raises BookError for an empty side
        or a crossed book."""
        bids, asks = clean_side(self.bids, descending=True), clean_side(self.asks, False)
        if len(bids) == 0 or len(asks) == 0:
            raise BookError(f"order book from {self.source} has an empty side")
        if bids[0, 0] >= asks[0, 0]:
            raise BookError(f"order book from {self.source} is crossed: bid {bids[0, 0]} >= "
                            f"ask {asks[0, 0]}")
        return OrderBook(bids, asks, self.timestamp_ms, self.source, self.version,
                         self.precision)

    def to_json(self) -> dict[str, object]:
        """The stored form: levels as lists, with `timestamp_ms`, `source` and `precision`."""
        return {"bids": self.bids.tolist(), "asks": self.asks.tolist(),
                "timestamp_ms": self.timestamp_ms, "source": self.source,
                "precision": self.precision.to_json() if self.precision else None}

    def to_json_bytes(self) -> bytes:
        """`to_json` as JSON bytes, the levels written by orjson straight from the arrays."""
        return orjson.dumps(
            {"bids": np.ascontiguousarray(self.bids, dtype=np.float64),
             "asks": np.ascontiguousarray(self.asks, dtype=np.float64),
             "timestamp_ms": self.timestamp_ms, "source": self.source,
             "precision": self.precision.to_json() if self.precision else None},
            option=orjson.OPT_SERIALIZE_NUMPY)

    @classmethod
    def from_json(cls, doc: dict, version: int = 0) -> OrderBook:
        precision = doc.get("precision")
        return cls.of(doc["bids"], doc["asks"], timestamp_ms=int(doc.get("timestamp_ms", 0)),
                      source=str(doc.get("source", "")), version=version,
                      precision=MarketPrecision.from_json(precision) if precision else None)


def levels_array(levels: object) -> np.ndarray:
    """Levels as a float64 (n, 2) array (n may be 0)."""
    return np.asarray(levels, dtype=np.float64).reshape(-1, 2)


def clean_side(levels: np.ndarray, descending: bool) -> np.ndarray:
    """Finite levels with size > 0, one per price (sizes of equal prices summed), best first.
    A side that is so already (as exchanges send them) is returned as it is."""
    levels = levels_array(levels)
    with np.errstate(invalid="ignore"):
        steps = np.diff(levels[:, 0])
    if (np.isfinite(levels).all() and (levels > 0).all()
            and ((steps < 0).all() if descending else (steps > 0).all())):
        return levels
    keep = np.isfinite(levels).all(axis=1) & (levels[:, 0] > 0) & (levels[:, 1] > 0)
    prices, where = np.unique(levels[keep, 0], return_inverse=True)
    sizes = np.bincount(where, weights=levels[keep, 1], minlength=len(prices))
    side = np.column_stack((prices, sizes))
    return np.ascontiguousarray(side[::-1]) if descending else side


@dataclass(frozen=True, slots=True)
class BookWalk:
    """Result of walking one book side for a base quantity.

    Quantities are base units, prices and notional quote units, slippage in basis points
    (positive = cost). `levels_consumed` counts the levels the order traded at, the last one
    possibly only in part; `worst_price` is that last level's price.
    """

    side: OrderSide
    filled_quantity: float
    unfilled_quantity: float
    average_price: float
    notional_quote: float
    levels_consumed: int
    worst_price: float
    reference_price: float
    slippage_bps: float

    @property
    def fully_filled(self) -> bool:
        """True when the book held the whole quantity."""
        return self.unfilled_quantity == 0.0


def _check_levels(levels: np.ndarray, side: str) -> np.ndarray:
    """The levels as float64 (n, 2), n >= 1, finite positive prices and sizes, in walk order
    (asks strictly ascending for a buy, bids strictly descending for a sell)."""
    arr = np.asarray(levels, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f"levels must be a non-empty (n, 2) array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0.0):
        raise ValueError("levels must hold finite, positive prices and sizes")
    steps = np.diff(arr[:, 0])
    if side == "buy" and np.any(steps <= 0.0):
        raise ValueError("levels for a buy must be asks with strictly ascending prices")
    if side == "sell" and np.any(steps >= 0.0):
        raise ValueError("levels for a sell must be bids with strictly descending prices")
    return arr


def _check_reference(reference_price: float | None, levels: np.ndarray) -> float:
    """The reference price: the given one (finite, > 0) or the best price of the side."""
    if reference_price is None:
        return float(levels[0, 0])
    ref = float(reference_price)
    if not math.isfinite(ref) or ref <= 0.0:
        raise ValueError(f"reference_price must be finite and > 0, got {reference_price!r}")
    return ref


def _walk_many(
    levels: np.ndarray, quantities: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised walk for many quantities: (filled base, notional quote, last level index).

    Uses the formulas of the module docstring with one `np.searchsorted` over the cumulative
    sizes; no loop over levels or quantities.
    """
    prices, sizes = levels[:, 0], levels[:, 1]
    cum_size = np.cumsum(sizes)
    cum_notional = np.cumsum(prices * sizes)
    total = cum_size[-1]
    filled = np.minimum(quantities, total)
    last = np.searchsorted(cum_size, filled - _BOUNDARY_TOLERANCE * total, side="left")
    last = np.minimum(last, len(sizes) - 1)
    before_size = np.where(last > 0, cum_size[last - 1], 0.0)
    before_notional = np.where(last > 0, cum_notional[last - 1], 0.0)
    notional = before_notional + (filled - before_size) * prices[last]
    return filled, notional, last


def _slippage_bps(average: np.ndarray | float, reference: float, sign: float) -> np.ndarray | float:
    """sign * (average - reference) / reference * 1e4."""
    return sign * (average - reference) / reference * 1e4


def walk_book(
    levels: np.ndarray,
    quantity: float,
    side: OrderSide = "buy",
    reference_price: float | None = None,
) -> BookWalk:
    """Walk `levels` (asks for a buy, bids for a sell) for `quantity` base units.

    Raises ValueError when `quantity` is not finite and > 0, `side` is unknown, or `levels` is
    empty, non-positive or not in walk order.
    """
    sign = order_side_sign(side)
    q = float(quantity)
    if not math.isfinite(q) or q <= 0.0:
        raise ValueError(f"quantity must be finite and > 0, got {quantity!r}")
    arr = _check_levels(levels, side)
    ref = _check_reference(reference_price, arr)
    filled, notional, last = _walk_many(arr, np.array([q]))
    f, n, k = float(filled[0]), float(notional[0]), int(last[0])
    average = n / f
    return BookWalk(
        side=side,
        filled_quantity=f,
        unfilled_quantity=q - f,
        average_price=average,
        notional_quote=n,
        levels_consumed=k + 1,
        worst_price=float(arr[k, 0]),
        reference_price=ref,
        slippage_bps=float(_slippage_bps(average, ref, sign)),
    )


def cost_curve(
    levels: np.ndarray,
    quantities: np.ndarray,
    side: OrderSide = "buy",
    reference_price: float | None = None,
) -> np.ndarray:
    """Slippage in bps (positive = cost) of market orders of each of `quantities` (base units).

    Same shape as `quantities` and equal, element by element, to `walk_book(...).slippage_bps`.
    Quantities beyond the book's total size (`levels[:, 1].sum()`) get the slippage of walking
    the whole book, i.e. of the part that would fill. Raises ValueError when any quantity is
    not finite and > 0.
    """
    sign = order_side_sign(side)
    qs = np.asarray(quantities, dtype=np.float64)
    if not np.all(np.isfinite(qs)) or np.any(qs <= 0.0):
        raise ValueError("quantities must all be finite and > 0")
    arr = _check_levels(levels, side)
    ref = _check_reference(reference_price, arr)
    flat = qs.reshape(-1)
    filled, notional, _ = _walk_many(arr, flat)
    return np.asarray(_slippage_bps(notional / filled, ref, sign)).reshape(qs.shape)


EXTRAPOLATE_TO_PCT = 30.0
"""How far beyond the mid the book's depth is extrapolated when the recorded levels run out."""
EXTRAPOLATION_STEP_BPS = 2.0


def extend_book(
    levels: np.ndarray, mid: float, reach_pct: float = EXTRAPOLATE_TO_PCT
) -> np.ndarray:
    """One book side continued past its last recorded level at its average depth density.

    Density `D = sum(p*q) / span_bps` (quote per bps of distance from `mid`, over the recorded
    span); synthetic levels every `EXTRAPOLATION_STEP_BPS` out to `reach_pct` percent from
    `mid` each hold `D * step` quote. Recorded books (1000 levels) cover only tens of bps, while
    a cascade or a large market order can run further; beyond the record this is an assumption,
    and results that reach it say so.
    """
    levels = np.asarray(levels, dtype=np.float64)
    last = float(levels[-1, 0])
    sign = 1.0 if last > mid else -1.0
    span_bps = abs(last - mid) / mid * 1e4
    if span_bps <= 0.0:
        return levels
    density = float(levels[:, 0] @ levels[:, 1]) / span_bps
    offsets = np.arange(span_bps + EXTRAPOLATION_STEP_BPS, reach_pct * 100.0,
                        EXTRAPOLATION_STEP_BPS)
    prices = mid * (1.0 + sign * offsets / 1e4)
    sizes = density * EXTRAPOLATION_STEP_BPS / prices
    return np.concatenate((levels, np.column_stack((prices, sizes))))


def within_limit(levels: np.ndarray, side: str, limit_price: float | None) -> np.ndarray:
    """The prefix of `levels` a limit order may trade at: asks <= limit for a buy, bids >= limit
    for a sell (all of them when `limit_price` is None)."""
    if limit_price is None or len(levels) == 0:
        return levels
    if side == "buy":
        return levels[: int(np.searchsorted(levels[:, 0], limit_price, side="right"))]
    return levels[: int(np.searchsorted(-levels[:, 0], -limit_price, side="right"))]


def take(levels: np.ndarray, quantity: float, side: str,
         precision: MarketPrecision | None = None) -> tuple[BookWalk, list[list[float]]]:
    """Walk `levels` for `quantity` (base) with `walk_book` and split the fill per level:
    `[[price, base taken], ...]`. With `precision`, each level's part is put on the lot (the
    nearest whole lots: a book and an order on the lot give parts on the lot up to float
    error) and parts of no lot are dropped; the walk's figures then describe those parts."""
    walk = walk_book(levels, quantity, side)
    touched = levels[: walk.levels_consumed]
    before = np.concatenate([[0.0], np.cumsum(touched[:, 1])[:-1]])
    portions = np.minimum(touched[:, 1], np.maximum(walk.filled_quantity - before, 0.0))
    if precision is not None:
        portions = np.array([precision.quantity(float(q)) for q in portions])
    per_level = [[float(p), float(q)] for p, q in zip(touched[:, 0], portions, strict=True)
                 if q > 0.0]
    if precision is None or not per_level:
        return walk, per_level
    filled = precision.quantity_of(sum(precision.lots(q) for _, q in per_level))
    notional = float(sum(p * q for p, q in per_level))
    average = notional / filled
    return BookWalk(
        side=walk.side, filled_quantity=filled, unfilled_quantity=max(quantity - filled, 0.0),
        average_price=average, notional_quote=notional, levels_consumed=len(per_level),
        worst_price=per_level[-1][0], reference_price=walk.reference_price,
        slippage_bps=float(_slippage_bps(average, walk.reference_price,
                                         order_side_sign(side))),
    ), per_level
