"""The liquidation map over time as an SVG heatmap: time across, price up, colour = estimated
liquidation notional of the band at that price in the snapshot at that time (viridis, dark =
little, yellow = most; scaled to the 99th percentile of non-zero cells), the price path drawn
over it.

Input: the worker's bounded history (`BandStore.history`): snapshots `{t_ms, price, low, width,
values[]}`, oldest first, each on its own band grid. The colour layer is a raster (an embedded
PNG, one pixel per time column and price row, drawn pixelated) so a few hundred snapshots stay
a small image; axes, colour bar, price path and hover targets are vector.

Snapshots are sampled onto the time grid by "latest snapshot at or before", so uneven spacing
is drawn to scale; a gap longer than three typical intervals (a stopped worker) stays empty.
When the replay loops its data clock jumps back: only the snapshots after the last backward
jump are drawn.

Realised liquidations, when given, are drawn as marks at their time and price: a dot per event
(longs `REALISED_LONG_COLOUR`, shorts `REALISED_SHORT_COLOUR`), its area proportional to the
notional, with a hover title; at most `MAX_MARKS` (the largest). The time axis reaches the
newest mark when it lies within three candles of the last snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from execsvc.charts import palette, scale
from execsvc.charts.map_frame import stale_mark
from execsvc.charts.png import data_uri
from execsvc.charts.svg import coloured_text, element, num, text, title
from execsvc.charts.svg import document as svg_document
from execsvc.domain.liquidations import LiquidationEvent
from execsvc.domain.map_document import HistorySnapshot

EMPTY_RGB = np.array([241, 243, 245], dtype=np.uint8)
MAX_COLUMNS = 720
MAX_ROWS = 360
MAX_MARKS = 1500
DEFAULT_STEP_MS = 3_600_000
CLIP_ID = "execsvc-heatmap-plot"
"""Id of the plot's clip path (unique on the page that inlines both charts)."""


def latest_run(history: list[HistorySnapshot]) -> list[HistorySnapshot]:
    """The snapshots after the last time the data clock went backwards (a replay loop)."""
    start = 0
    for i in range(1, len(history)):
        if history[i]["t_ms"] <= history[i - 1]["t_ms"]:
            start = i
    return history[start:]


def sample_grid(
    history: list[HistorySnapshot], times: np.ndarray, prices: np.ndarray, step_ms: float
) -> np.ndarray:
    """Values (rows = `prices`, columns = `times`; NaN where there is no snapshot) of the
    latest snapshot at or before each time, read at each price from that snapshot's bands."""
    t = np.array([s["t_ms"] for s in history], dtype=float)
    which = np.searchsorted(t, times, side="right") - 1
    grid = np.full((len(prices), len(times)), np.nan)
    for j in np.unique(which[which >= 0]):
        snap = history[j]
        values = np.asarray(snap["values"], dtype=float)
        columns = np.flatnonzero((which == j) & (times - t[j] <= 3 * step_ms))
        if len(values) == 0 or snap["width"] <= 0 or len(columns) == 0:
            continue
        index = np.floor((prices - snap["low"]) / snap["width"]).astype(int)
        inside = (index >= 0) & (index < len(values))
        column = np.zeros(len(prices))
        column[inside] = values[index[inside]]
        grid[:, columns] = column[:, None]
    return grid


def price_extent(run: list[HistorySnapshot]) -> tuple[float, float]:
    """The price range drawn: every band with notional and the whole price path, plus a
    margin; the empty outer bands of the grids are left out."""
    lows, highs = [], []
    for snap in run:
        values = np.asarray(snap["values"], dtype=float)
        filled = np.flatnonzero(values > 0)
        if len(filled):
            lows.append(snap["low"] + filled[0] * snap["width"])
            highs.append(snap["low"] + (filled[-1] + 1) * snap["width"])
        lows.append(snap["price"])
        highs.append(snap["price"])
    low, high = min(lows), max(highs)
    margin = max((high - low) * 0.04, high * 0.002)
    return low - margin, high + margin


def _typical_step(t: np.ndarray) -> float:
    if len(t) < 2:
        return float(DEFAULT_STEP_MS)
    return float(np.median(np.diff(t)))


def _time_label(epoch_ms: float, with_date: bool) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%m-%d %H:%M" if with_date else "%H:%M")


def _time_ticks(t0: float, t1: float, count: int) -> list[float]:
    hour = 3_600_000.0
    span_h = (t1 - t0) / hour
    step_h = next((s for s in (1, 2, 3, 6, 12, 24, 48, 72, 168) if span_h / s <= count), 336)
    first = np.ceil(t0 / (step_h * hour)) * step_h * hour
    return [float(v) for v in np.arange(first, t1 + 1, step_h * hour)]


def _empty(width: int, height: int, header: str, message: str, data: dict[str, Any]) -> str:
    body = [
        text(16, 24, header, font_size=16, font_weight="bold", fill="#212529"),
        text(width / 2, height / 2, message, font_size=14, fill=palette.MUTED_TEXT,
             text_anchor="middle", **{"class": "empty-message"}),
    ]
    return svg_document(width, height, body, {**data, "snapshots": 0}, label=message)


def _colour_bar(x0: float, top: float, bottom: float, vmax: float, quote: str) -> str:
    levels = np.linspace(1.0, 0.0, 64)
    pixels = np.repeat(palette.viridis(levels)[:, None, :], 1, axis=1)
    parts = [element("image", {"x": x0, "y": top, "width": 12, "height": bottom - top,
                               "preserveAspectRatio": "none", "href": data_uri(pixels)})]
    for value in scale.ticks(0.0, vmax, 4):
        py = bottom - value / vmax * (bottom - top)
        parts.append(text(x0 + 16, py + 4, scale.compact(value), font_size=10.5,
                          fill=palette.AXIS_COLOUR))
    parts.append(text(x0 + 12, top - 8, f"{quote} per band", font_size=10.5,
                      fill=palette.AXIS_COLOUR, text_anchor="middle"))
    return element("g", {"class": "colour-bar"}, "".join(parts))


def render_heatmap_svg(
    history: list[HistorySnapshot],
    *,
    symbol: str,
    window: str,
    quote_currency: str,
    width: int = 1200,
    height: int = 420,
    bin_width_bps: float | None = None,
    range_pct: float | None = None,
    liquidations: Sequence[LiquidationEvent] | None = None,
    liquidations_note: str | None = None,
    stale: bool = False,
) -> str:
    """The history as an SVG heatmap (see the module docstring). `range_pct` shows only that
    percent either side of the latest price (default: every band with notional);
    `liquidations` are drawn as marks, `liquidations_note` (a sampling caveat, or why there
    are none) goes into the subtitle; `stale` (the map the history ends with is) puts the
    STALE mark at the top right, as on the map chart."""
    header = f"{symbol} liquidation heatmap over time \u00b7 {window} window"
    data = {"chart": "heatmap", "symbol": symbol, "window": window,
            "stale": str(stale).lower()}
    run = [s for s in latest_run(history) if s.get("values")]
    if not run:
        return _empty(width, height, header, "No map history yet: the worker adds one "
                      "snapshot per new candle.", data)
    left, right, top, bottom = 76.0, width - 90.0, 66.0, height - 40.0
    t = np.array([s["t_ms"] for s in run], dtype=float)
    step = _typical_step(t)
    t0, t1 = float(t[0]), float(t[-1] + step)
    marks = [e for e in liquidations or [] if t0 <= e.time_ms <= t[-1] + 3 * step]
    if marks:
        t1 = max(t1, max(e.time_ms for e in marks) + step / 4)
    p_low, p_high = price_extent(run)
    if range_pct is not None:
        latest = run[-1]["price"]
        p_low = latest * (1 - range_pct / 100)
        p_high = latest * (1 + range_pct / 100)
    x = scale.Linear((t0, t1), (left, right))
    y = scale.Linear((p_low, p_high), (bottom, top))

    columns = int(min(MAX_COLUMNS, max(right - left, 1)))
    rows = int(min(MAX_ROWS, max(bottom - top, 1)))
    times = t0 + (np.arange(columns) + 0.5) * (t1 - t0) / columns
    prices = p_high - (np.arange(rows) + 0.5) * (p_high - p_low) / rows
    grid = sample_grid(run, times, prices, step)
    positive = grid[np.isfinite(grid) & (grid > 0)]
    vmax = float(np.percentile(positive, 99)) if positive.size else 1.0
    pixels = palette.viridis(np.nan_to_num(grid, nan=0.0) / vmax)
    pixels[~np.isfinite(grid)] = EMPTY_RGB

    decimals = scale.step_decimals(scale.nice_step(p_high - p_low, 6))
    body = [
        text(left, 22, header, font_size=16, font_weight="bold", fill="#212529",
             **{"class": "chart-title"}),
        text(left, 39, f"{len(run)} snapshots, one per candle \u00b7 colour = estimated "
             f"liquidation notional per {bin_width_bps or 0:g} bps band \u00b7 white line = "
             "price", font_size=11.5, fill=palette.MUTED_TEXT),
        _realised_line(left, liquidations, liquidations_note),
        stale_mark(width, "STALE" if stale else ""),
        element("image", {"class": "heat", "x": left, "y": top, "width": right - left,
                          "height": bottom - top, "preserveAspectRatio": "none",
                          "style": "image-rendering:pixelated", "href": data_uri(pixels)}),
        _heat_axes(left, right, top, bottom, x, y, t0, t1, decimals, quote_currency),
        _price_path(run, x, y, (left, top, right, bottom)),
        _colour_bar(right + 24, top, bottom, vmax, quote_currency),
        _column_tips(run, t, step, t1, x, top, bottom, decimals, quote_currency),
    ]
    if liquidations is not None:
        body.append(_marks(marks, x, y, decimals, quote_currency))
    data.update({"snapshots": len(run), "t-first-ms": int(t[0]), "t-last-ms": int(t[-1]),
                 "vmax": round(vmax, 2), "price-domain": f"{float(p_low)!r},{float(p_high)!r}"})
    return svg_document(width, height, body, data, label=header)


def _realised_line(left: float, liquidations: Sequence[LiquidationEvent] | None,
                   note: str | None) -> str:
    """The second subtitle line: what the dots are (and the sampling caveat), or why there
    are none."""
    if liquidations is None:
        return "" if not note else text(left, 54, note, font_size=11, fill=palette.MUTED_TEXT,
                                        **{"class": "realised-note"})
    spans = [
        ("Dots = realised liquidations: ", palette.MUTED_TEXT),
        ("longs", palette.REALISED_LONG_COLOUR), (", ", palette.MUTED_TEXT),
        ("shorts", palette.REALISED_SHORT_COLOUR),
        (" (area by notional)" + (" \u00b7 " + note if note else ""), palette.MUTED_TEXT),
    ]
    return coloured_text(left, 54, spans, font_size=11, **{"class": "realised-note"})


def _marks(events: list[LiquidationEvent], x: scale.Linear, y: scale.Linear, decimals: int,
           quote: str) -> str:
    """A dot per realised liquidation (the `MAX_MARKS` largest), area by notional, clipped to
    the plot."""
    shown = sorted(events, key=lambda e: e.notional_quote, reverse=True)[:MAX_MARKS]
    largest = max((e.notional_quote for e in shown), default=1.0) or 1.0
    parts = []
    for event in sorted(shown, key=lambda e: e.time_ms):
        radius = 2.0 + 6.0 * (event.notional_quote / largest) ** 0.5
        colour = (palette.REALISED_LONG_COLOUR if event.side == "long"
                  else palette.REALISED_SHORT_COLOUR)
        tip = "\n".join([
            _time_label(event.time_ms, True) + " UTC",
            f"{event.side.capitalize()} liquidated at {scale.price(event.price, decimals)} "
            f"{quote}",
            f"{scale.compact(event.notional_quote)} {quote} ({event.quantity_base:g} base)",
        ])
        parts.append(element("circle", {
            "class": "liquidation-mark", "cx": x(event.time_ms), "cy": y(event.price),
            "r": radius, "fill": colour, "fill-opacity": 0.85, "stroke": "#ffffff",
            "stroke-width": 0.8, "data-side": event.side, "data-time-ms": event.time_ms,
            "data-price": event.price}, title(tip)))
    return element("g", {"class": "liquidation-marks", "data-count": len(shown),
                         "clip-path": f"url(#{CLIP_ID})"}, "".join(parts))


def _heat_axes(left: float, right: float, top: float, bottom: float, x: scale.Linear,
               y: scale.Linear, t0: float, t1: float, decimals: int, quote: str) -> str:
    parts = [element("rect", {"x": left, "y": top, "width": right - left,
                              "height": bottom - top, "fill": "none",
                              "stroke": palette.AXIS_COLOUR})]
    for value in scale.ticks(y.domain[0], y.domain[1], max(2, int((bottom - top) / 50))):
        py = y(value)
        parts.append(element("line", {"x1": left - 5, "x2": left, "y1": py, "y2": py,
                                      "stroke": palette.AXIS_COLOUR}))
        parts.append(text(left - 8, py + 4, scale.price(value, decimals), font_size=11,
                          fill=palette.AXIS_COLOUR, text_anchor="end"))
    with_date = t1 - t0 > 20 * 3_600_000
    for value in _time_ticks(t0, t1, max(2, int((right - left) / 110))):
        px = x(value)
        parts.append(element("line", {"x1": px, "x2": px, "y1": bottom, "y2": bottom + 5,
                                      "stroke": palette.AXIS_COLOUR}))
        parts.append(text(px, bottom + 17, _time_label(value, with_date), font_size=11,
                          fill=palette.AXIS_COLOUR, text_anchor="middle"))
    parts.append(text((left + right) / 2, bottom + 33, "Data time (UTC)", font_size=11.5,
                      fill=palette.AXIS_COLOUR, text_anchor="middle"))
    middle = (top + bottom) / 2
    parts.append(text(16, middle, f"Price ({quote})", font_size=11.5, fill=palette.AXIS_COLOUR,
                      text_anchor="middle", transform=f"rotate(-90 16 {num(middle)})"))
    return element("g", {"class": "axes"}, "".join(parts))


def _price_path(run: list[HistorySnapshot], x: scale.Linear, y: scale.Linear,
                box: tuple[float, float, float, float]) -> str:
    """The price of each snapshot, held to the end of the last snapshot's column, clipped to
    the plot (a narrow `range_pct` can leave parts of the path outside)."""
    points = [(x(s["t_ms"]), y(s["price"])) for s in run]
    points.append((x.range_[1], points[-1][1]))
    d = "M" + "L".join(f"{num(px)},{num(py)}" for px, py in points)
    under = element("path", {"d": d, "fill": "none", "stroke": "#000000", "stroke-width": 4,
                             "stroke-opacity": 0.55, "stroke-linejoin": "round"})
    over = element("path", {"class": "price-path", "d": d, "fill": "none", "stroke": "#ffffff",
                            "stroke-width": 1.75, "stroke-linejoin": "round"})
    left, top, right, bottom = box
    clip = element("clipPath", {"id": CLIP_ID}, element(
        "rect", {"x": left, "y": top, "width": right - left, "height": bottom - top}))
    return element("g", {"pointer-events": "none", "clip-path": f"url(#{CLIP_ID})"},
                   element("defs", {}, clip) + under + over)


def _column_tips(run: list[HistorySnapshot], t: np.ndarray, step: float, t1: float,
                 x: scale.Linear, top: float, bottom: float, decimals: int, quote: str) -> str:
    """One hover target per snapshot: its time, price and densest band."""
    parts = []
    for j, snap in enumerate(run):
        end = min(float(t[j + 1]) if j + 1 < len(t) else t1, float(t[j]) + 3 * step)
        values = snap["values"]
        k = int(np.argmax(values))
        band_low = snap["low"] + k * snap["width"]
        tip = "\n".join([
            _time_label(snap["t_ms"], True) + " UTC",
            f"Price {scale.price(snap['price'], decimals)} {quote}",
            f"Densest band {scale.price(band_low, decimals)} \u2013 "
            f"{scale.price(band_low + snap['width'], decimals)}: "
            f"{scale.compact(values[k])} {quote}",
            f"Total in view {scale.compact(float(sum(values)))} {quote}",
        ])
        x0 = x(snap["t_ms"])
        parts.append(element("rect", {"class": "hit", "x": x0, "y": top,
                                      "width": max(x(end) - x0, 1.0), "height": bottom - top,
                                      "data-t-ms": snap["t_ms"]}, title(tip)))
    return element("g", {"class": "hits", "fill": "transparent"}, "".join(parts))
