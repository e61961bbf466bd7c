"""Scales, tick positions and number formats for the charts."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Linear:
    """Maps `domain` (data) linearly onto `range_` (pixels); a flat domain maps to its start."""

    domain: tuple[float, float]
    range_: tuple[float, float]

    def __call__(self, value: float) -> float:
        d0, d1 = self.domain
        r0, r1 = self.range_
        if d1 == d0:
            return r0
        return r0 + (value - d0) / (d1 - d0) * (r1 - r0)


def nice_step(span: float, count: int) -> float:
    """A step of 1, 2, 2.5 or 5 times a power of ten giving about `count` ticks over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * power:
            return factor * power
    return 10.0 * power


def ticks(low: float, high: float, count: int) -> list[float]:
    """Nice tick values inside `[low, high]`."""
    step = nice_step(high - low, count)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(k * step, 10) for k in range(first, last + 1)]


def step_decimals(step: float) -> int:
    """Decimals needed to print multiples of `step` exactly (0 for 2000, 2 for 0.25)."""
    decimals = 0
    while decimals < 10 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return decimals


def price(value: float, decimals: int) -> str:
    """`93,536.30`: thousands separators and fixed decimals."""
    return f"{value:,.{decimals}f}"


def compact(value: float) -> str:
    """`82.9M`, `350k`, `1.24B`: three significant digits with an SI-like suffix."""
    magnitude = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            scaled = value / limit
            digits = 0 if abs(scaled) >= 100 else 1 if abs(scaled) >= 10 else 2
            shown = f"{scaled:.{digits}f}"
            if "." in shown:
                shown = shown.rstrip("0").rstrip(".")
            return shown + suffix
    if magnitude == 0:
        return "0"
    return f"{value:.3g}"


def percent(value: float) -> str:
    """A signed percentage: `+2.5%`, `-10%` (printed with a real minus sign, U+2212), `0%`."""
    if abs(value) < 1e-9:
        return "0%"
    text = f"{abs(value):.2f}".rstrip("0").rstrip(".")
    return ("+" if value > 0 else "\u2212") + text + "%"
