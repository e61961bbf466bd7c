"""The frame of the map chart: layout boxes (`Frame`), title and subtitle, legend, axes.

Sizes from 320 x 200 (a chat thumbnail) to 2400 x 1600: below 560 px wide the rotated axis
titles go, below 320 px high the legend, the %-from-price tick row and the second row of
cluster labels go; titles shorten to fit (`fit`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from execsvc.charts import palette, scale
from execsvc.charts.svg import element, num, text, text_width
from execsvc.domain.map_document import MapDocument
from execsvc.domain.units import price_decimals

PANEL_GAP = 8.0
"""Pixels between the map and a panel under it."""
MODEL_NAMES = {"oi_delta": "open-interest model", "volume_proxy": "volume-proxy model"}
LEGEND_FONT = 11.0
TICK_FONT = 11.0


@dataclass(frozen=True, slots=True)
class Frame:
    """Pixel boxes of the chart: the plot area and the rows above it."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    legend_top: float
    strip_top: float
    panel_top: float = 0.0
    panel_bottom: float = 0.0

    @property
    def narrow(self) -> bool:
        """Too narrow for the rotated axis titles (chat thumbnails)."""
        return self.width < 560

    @property
    def short(self) -> bool:
        """Too low for the legend and a second row of cluster labels."""
        return self.height < 320

    @property
    def plot_width(self) -> float:
        return self.right - self.left

    @property
    def axis_bottom(self) -> float:
        """Where the shared price axis is drawn: under the realised panel when there is one."""
        return self.panel_bottom or self.bottom


def chart_decimals(price: float) -> int:
    """Decimals that show about five significant digits of a price on a chart."""
    return price_decimals(price, significant=5, minimum=0)


def leverage_label(leverage: float) -> str:
    return f"{leverage:g}x"


def margins(width: int) -> tuple[float, float]:
    """Left and right margins: room for tick labels, and axis titles when wide enough."""
    return (46.0, 44.0) if width < 560 else (66.0, 70.0)


def frame_for(width: int, height: int, legend_rows: int,
              panel_height: Callable[[float], float] | None = None) -> Frame:
    """The boxes for a chart of this size whose legend takes `legend_rows` rows;
    `panel_height(plot height)` reserves a panel under the plot, above the price axis."""
    short = height < 320
    legend_top = 30.0 if short else 50.0
    legend_height = 0.0 if short else 17.0 * legend_rows
    strip_top = legend_top + legend_height + 2 + (14 if short else 26)
    left, right = margins(width)
    top = strip_top + 12
    bottom = height - (36.0 if short else 50.0)
    panel = panel_height(bottom - top) if panel_height is not None else 0.0
    if panel <= 0:
        return Frame(width=width, height=height, left=left, right=width - right, top=top,
                     bottom=bottom, legend_top=legend_top, strip_top=strip_top)
    return Frame(width=width, height=height, left=left, right=width - right, top=top,
                 bottom=bottom - panel - PANEL_GAP, legend_top=legend_top,
                 strip_top=strip_top, panel_top=bottom - panel, panel_bottom=bottom)


def fit(candidates: list[str], width: float, font_size: float) -> str:
    """The first text that fits `width`, else the last one cut with an ellipsis."""
    for candidate in candidates:
        if text_width(candidate, font_size) <= width:
            return candidate
    shown = candidates[-1]
    while shown and text_width(shown + "\u2026", font_size) > width:
        shown = shown[:-1]
    return shown + "\u2026"


def legend_items(layers: Sequence[tuple[str, str]], by: str = "leverage"
                 ) -> list[tuple[str, str, str]]:
    """(kind, colour, label) for the legend, in reading order; `layers` are the bars'
    (colour, label), stacked `by` leverage or venue."""
    items = [("text", "", f"Bars by {by}:")]
    items += [("box", colour, label) for colour, label in layers]
    items += [
        ("line", palette.CURVE_COLOUR, "Cumulative liquidations if price moves there (right axis)"),
        ("price", palette.PRICE_COLOUR, "Current price"),
        ("clusters", "", f"Clusters #1\u2013#{len(palette.CLUSTER_COLOURS)} by notional "
                         "(colour tells clusters apart)"),
        ("box", palette.MINOR_CLUSTER_COLOUR, "Smaller clusters"),
    ]
    return items


def legend_layout(items: list[tuple[str, str, str]], width: float) -> list[list[tuple]]:
    """Legend items wrapped into rows of at most `width` pixels."""
    rows: list[list[tuple]] = [[]]
    x = 0.0
    for kind, colour, label in items:
        swatch = 0.0 if kind == "text" else 30.0 if kind == "clusters" else 18.0
        advance = swatch + text_width(label, LEGEND_FONT) + 14
        if x > 0 and x + advance > width:
            rows.append([])
            x = 0.0
        rows[-1].append((x, kind, colour, label, swatch))
        x += advance
    return rows


def legend(rows: list[list[tuple]], frame: Frame) -> str:
    """The laid-out legend rows above the plot."""
    parts = []
    for r, row in enumerate(rows):
        y = frame.legend_top + 17 * r
        for x0, kind, colour, label, swatch in row:
            x = frame.left + x0
            if kind == "box":
                parts.append(element("rect", {"x": x, "y": y - 9, "width": 12, "height": 10,
                                              "fill": colour}))
            elif kind == "line":
                parts.append(element("line", {"x1": x, "y1": y - 4, "x2": x + 14, "y2": y - 4,
                                              "stroke": colour, "stroke-width": 2}))
            elif kind == "price":
                parts.append(element("line", {"x1": x + 6, "y1": y - 11, "x2": x + 6,
                                              "y2": y + 2, "stroke": colour,
                                              "stroke-width": 2}))
            elif kind == "clusters":
                for k, c in enumerate(palette.CLUSTER_COLOURS[:3]):
                    parts.append(element("rect", {"x": x + 8.0 * k, "y": y - 9, "width": 8,
                                                  "height": 10, "fill": c}))
            parts.append(text(x + swatch, y, label, font_size=LEGEND_FONT,
                              fill=palette.AXIS_COLOUR))
    return element("g", {"class": "legend"}, "".join(parts))


def header(document: MapDocument, frame: Frame, freshness: dict[str, Any] | None,
           shown_label: str | None) -> str:
    """Title, subtitle (venue, price, band width, model, data time, version), STALE mark."""
    quote = document["quote_currency"]
    decimals = chart_decimals(document["price"])
    symbol, window = document["symbol"], document["window"]
    only = f" \u00b7 {shown_label} only" if shown_label else ""
    stale_label = stale_text(freshness)
    room = frame.width - 2 * 12 - text_width(stale_label, 14) - 8
    heading = fit([f"{symbol} liquidation map \u00b7 {window} window{only}",
                   f"{symbol} liquidations \u00b7 {window}{only}", f"{symbol} \u00b7 {window}"],
                  room, 16)
    model = MODEL_NAMES.get(document.get("model", ""), document.get("model", ""))
    price = f"price {scale.price(document['price'], decimals)} {quote}"
    when = f"data to {utc_minute(document.get('data_end_ms'))}"
    version = ""
    if freshness and freshness.get("version") is not None:
        version = f"v{freshness['version']}"
    full = [document.get("exchange", ""), price, f"{document.get('bin_width_bps', 0):g} bps "
            "bands", model, when, version]
    sub = fit([" \u00b7 ".join(p for p in parts if p) for parts in
               (full, [price, model, when, version], [price, when], [price])],
              frame.width - 24, 11.5)
    parts = [
        text(12, 22, heading, font_size=16, font_weight="bold", fill="#212529",
             **{"class": "chart-title"}),
        text(12, 39, sub, font_size=11.5, fill=palette.MUTED_TEXT,
             **{"class": "chart-subtitle"}),
    ]
    parts.append(stale_mark(frame.width, stale_label))
    return "".join(parts)


def stale_text(freshness: dict[str, Any] | None) -> str:
    """`STALE` (with the map's age when known) for a stale map, else empty."""
    if not freshness or not freshness.get("stale"):
        return ""
    age = freshness.get("age_s")
    return "STALE" if age is None else f"STALE \u00b7 {age:,.0f} s old"


def stale_mark(width: float, label: str) -> str:
    """`label` in red at the top right of a chart `width` wide (nothing when empty)."""
    if not label:
        return ""
    return text(width - 12, 22, label, font_size=14, font_weight="bold",
                fill=palette.STALE_COLOUR, text_anchor="end", **{"class": "stale-mark"})


def utc_minute(epoch_ms: float | None) -> str:
    """`2026-01-06 11:26 UTC`."""
    if epoch_ms is None:
        return "?"
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def axes(frame: Frame, x: scale.Linear, y: scale.Linear, y2: scale.Linear, price: float,
         quote: str, bin_width_bps: float) -> str:
    """Grid, ticks (price with % from the price below), the plot box and axis titles."""
    parts = []
    y_ticks = scale.ticks(y.domain[0], y.domain[1], max(2, int((frame.bottom - frame.top) / 55)))
    for value in y_ticks:
        py = y(value)
        parts.append(element("line", {"x1": frame.left, "x2": frame.right, "y1": py, "y2": py,
                                      "stroke": palette.GRID_COLOUR}))
        parts.append(text(frame.left - 6, py + 4, scale.compact(value), font_size=TICK_FONT,
                          fill=palette.AXIS_COLOUR, text_anchor="end"))
    for value in scale.ticks(y2.domain[0], y2.domain[1], len(y_ticks)):
        parts.append(text(frame.right + 6, y2(value) + 4, scale.compact(value),
                          font_size=TICK_FONT, fill=palette.AXIS_COLOUR))
    x_count = max(2, int(frame.plot_width / 95))
    step = scale.nice_step(x.domain[1] - x.domain[0], x_count)
    decimals = scale.step_decimals(step)
    base = frame.axis_bottom
    for value in scale.ticks(x.domain[0], x.domain[1], x_count):
        px = x(value)
        parts.append(element("line", {"x1": px, "x2": px, "y1": base,
                                      "y2": base + 5, "stroke": palette.AXIS_COLOUR}))
        parts.append(text(px, base + 17, scale.price(value, decimals),
                          font_size=TICK_FONT, fill=palette.AXIS_COLOUR, text_anchor="middle"))
        if not frame.short:
            parts.append(text(px, base + 30, scale.percent((value / price - 1) * 100),
                              font_size=10, fill=palette.MUTED_TEXT, text_anchor="middle"))
    parts.append(element("path", {
        "d": f"M{num(frame.left)},{num(frame.top)}V{num(frame.bottom)}H{num(frame.right)}"
             f"V{num(frame.top)}",
        "fill": "none", "stroke": palette.AXIS_COLOUR}))
    if not frame.narrow:
        parts.append(_side_titles(frame, quote, bin_width_bps))
    axis_title = f"Price ({quote})" if frame.short else f"Price ({quote}) \u00b7 % from price"
    parts.append(text((frame.left + frame.right) / 2, frame.height - 6, axis_title,
                      font_size=11.5, fill=palette.AXIS_COLOUR, text_anchor="middle"))
    return element("g", {"class": "axes"}, "".join(parts))


def _side_titles(frame: Frame, quote: str, bin_width_bps: float) -> str:
    middle = (frame.top + frame.bottom) / 2
    parts = [text(14, middle, f"Liquidations per {bin_width_bps:g} bps band ({quote})",
                  font_size=11.5, fill=palette.AXIS_COLOUR, text_anchor="middle",
                  transform=f"rotate(-90 14 {num(middle)})")]
    right = frame.width - 12
    parts.append(text(right, middle, f"Cumulative liquidations ({quote})", font_size=11.5,
                      fill=palette.AXIS_COLOUR, text_anchor="middle",
                      transform=f"rotate(90 {num(right)} {num(middle)})"))
    return "".join(parts)
