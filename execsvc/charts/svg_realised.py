"""Realised liquidations on the map chart: a panel under the map, on the same price axis.

Per band, the notional of the liquidations that actually happened in the last hours (longs
below, shorts above the stack), against the map's predicted notional in the bars above it; its
own vertical scale, since what a day realises is orders of magnitude below what the map holds.
A label states the window, the totals, what fell outside the drawn range and, for a sampled
venue (Binance sends at most one liquidation per symbol per second), that the totals are lower
bounds. Without a liquidation source (replay mode) the panel is one line saying so.

Elements carry `class` and `data-*` attributes (`realised` group with `data-hours`,
`data-long-quote`, `data-short-quote`, `data-sampled`; `realised-bar` rects with `data-side`,
`data-price-low`, `data-notional`; `realised-unavailable` when there is no source) so tests
and the page can read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from execsvc.charts import palette, scale
from execsvc.charts.svg import coloured_text, element, text, title


@dataclass(frozen=True, slots=True)
class RealisedPanel:
    """Realised liquidations per band of the map document (arrays aligned with its `bands`),
    quote notional and counts, the window in hours and the venue's sampling note; or only
    `unavailable`, the reason there is no source."""

    hours: int = 24
    long_quote: np.ndarray | None = None
    short_quote: np.ndarray | None = None
    long_count: np.ndarray | None = None
    short_count: np.ndarray | None = None
    outside_quote: float = 0.0
    sampling_note: str | None = None
    unavailable: str | None = None

    @classmethod
    def without_source(cls, reason: str) -> RealisedPanel:
        return cls(unavailable=reason)


def panel_height(plot_height: float, panel: RealisedPanel | None) -> float:
    """Pixels the panel takes under the map (0 without one)."""
    if panel is None:
        return 0.0
    if panel.unavailable is not None:
        return 20.0
    return max(44.0, round(0.22 * plot_height))


def draw_panel(panel: RealisedPanel, index: np.ndarray, low: np.ndarray, high: np.ndarray,
               predicted: np.ndarray, left: float, right: float, top: float, bottom: float,
               x: scale.Linear, quote: str) -> str:
    """The panel between `top` and `bottom` for the shown bands (`index` into the document's
    bands; `low`/`high`/`predicted` already restricted to them)."""
    if panel.unavailable is not None:
        return element("g", {"class": "realised realised-unavailable"}, text(
            left, (top + bottom) / 2 + 4, f"Realised liquidations: {panel.unavailable}",
            font_size=11, fill=palette.MUTED_TEXT))
    assert panel.long_quote is not None and panel.short_quote is not None
    longs = panel.long_quote[index]
    shorts = panel.short_quote[index]
    long_n = panel.long_count[index] if panel.long_count is not None else np.zeros(len(index))
    short_n = panel.short_count[index] if panel.short_count is not None else np.zeros(len(index))
    peak = float((longs + shorts).max(initial=0.0))
    y = scale.Linear((0.0, max(peak * 1.1, 1.0)), (bottom, top + 14))
    parts = [element("rect", {"x": left, "y": top, "width": right - left,
                              "height": bottom - top, "fill": "none",
                              "stroke": palette.AXIS_COLOUR})]
    if peak > 0:
        parts.append(text(left - 6, y(peak) + 4, scale.compact(peak), font_size=10,
                          fill=palette.AXIS_COLOUR, text_anchor="end"))
    for i in np.flatnonzero(longs + shorts > 0):
        x0, x1 = x(low[i]), max(x(high[i]), x(low[i]) + 1.0)
        stack = 0.0
        for side, value, colour in (("long", longs[i], palette.REALISED_LONG_COLOUR),
                                    ("short", shorts[i], palette.REALISED_SHORT_COLOUR)):
            if value <= 0:
                continue
            y_top, y_bottom = y(stack + value), y(stack)
            parts.append(element("rect", {
                "class": "realised-bar", "x": x0, "y": y_top, "width": x1 - x0,
                "height": max(y_bottom - y_top, 0.6), "fill": colour, "data-side": side,
                "data-price-low": float(low[i]), "data-notional": round(float(value), 2)}))
            stack += value
        tip = "\n".join([
            f"{scale.price(float(low[i]), 2)} \u2013 {scale.price(float(high[i]), 2)} {quote}",
            f"Realised in the last {panel.hours} h: longs {scale.compact(float(longs[i]))} "
            f"({int(long_n[i])}), shorts {scale.compact(float(shorts[i]))} ({int(short_n[i])}) "
            f"{quote}",
            f"Predicted by the map here: {scale.compact(float(predicted[i]))} {quote}",
        ])
        parts.append(element("rect", {"class": "hit", "x": x0, "y": top, "width": x1 - x0,
                                      "height": bottom - top, "fill": "transparent"},
                             title(tip)))
    parts.append(_label(panel, float(longs.sum()), float(shorts.sum()), left, top, quote))
    return element("g", {
        "class": "realised", "data-hours": panel.hours,
        "data-long-quote": round(float(longs.sum()), 2),
        "data-short-quote": round(float(shorts.sum()), 2),
        "data-sampled": str(panel.sampling_note is not None).lower(),
    }, "".join(parts))


def _label(panel: RealisedPanel, longs: float, shorts: float, left: float, top: float,
           quote: str) -> str:
    tail = [""]
    if panel.outside_quote > 0:
        tail.append(f"{scale.compact(panel.outside_quote)} outside the range shown")
    if panel.sampling_note is not None:
        tail.append("a sample (the venue sends at most one per symbol per second): "
                    "lower bounds")
    spans = [
        (f"Realised liquidations, last {panel.hours} h: ", palette.AXIS_COLOUR),
        (f"longs {scale.compact(longs)}", palette.REALISED_LONG_COLOUR),
        (", ", palette.AXIS_COLOUR),
        (f"shorts {scale.compact(shorts)}", palette.REALISED_SHORT_COLOUR),
        (f" {quote}" + " \u00b7 ".join(tail), palette.AXIS_COLOUR),
    ]
    return coloured_text(left + 6, top + 11, spans, font_size=10.5,
                         **{"class": "realised-label"})
