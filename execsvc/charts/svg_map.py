"""The liquidation map as a standalone SVG: a pure function of the stored map document.

What it draws (price on the horizontal axis):
- bars: estimated liquidation notional per band, stacked by leverage (light blue = lowest
  leverage, dark = highest; `leverages=` keeps only some), or by venue (`stack="venue"`: an
  aggregated map's `notional_by_venue_quote`, one colour per venue), left axis;
- two cumulative curves on the right axis: long liquidations accumulating to the left as the
  price would fall, short liquidations to the right as it would rise (both from the shown
  leverages);
- a black line at the current price;
- optionally, a panel under the map with the liquidations that actually happened per band
  (`svg_realised`), on the same price axis;
- clusters as translucent spans with a coloured strip above the plot, colours by rank from a
  categorical palette (they tell clusters apart; side is given by the price line, not colour);
  clusters ranked beyond the palette are grey;
- title, subtitle (model, band width, data time, version), legend, axes with units, and a red
  STALE mark when the freshness passed in says so.

Every band with notional has a full-height hover target whose `<title>` gives its price range,
notional (by leverage, and by venue on an aggregated map), intensity, distance from the price
and cumulative notional; every cluster's strip has one too. Elements carry `class` and
`data-*` attributes (`bars` groups with `data-leverage` or `data-venue`, `price-line` with
`data-price`, `cluster` with `data-rank`/`data-colour`, `hit`; the root has `data-plot`,
`data-x-domain`, `data-stack` and `data-venues`) so tests and the page can read them.
The frame (layout, title, legend, axes) is `map_frame`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from execsvc.charts import palette, scale
from execsvc.charts.map_frame import (
    Frame,
    axes,
    chart_decimals,
    frame_for,
    header,
    legend,
    legend_items,
    legend_layout,
    leverage_label,
    margins,
)
from execsvc.charts.svg import document as svg_document
from execsvc.charts.svg import element, num, text, text_width, title
from execsvc.charts.svg_realised import RealisedPanel, draw_panel, panel_height
from execsvc.domain.map_document import ClusterDoc, MapDocument, leverage_indices


@dataclass(frozen=True, slots=True)
class Bands:
    """The band columns the chart needs, restricted to the shown price range."""

    index: np.ndarray  # of each shown band in the document's bands
    low: np.ndarray
    high: np.ndarray
    by_leverage: np.ndarray  # (bands, shown leverages)
    all_leverage: np.ndarray  # (bands, all leverages), for tooltips
    intensity: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.by_leverage.sum(axis=1)


def _bands(document: MapDocument, shown: list[int], range_pct: float | None) -> Bands:
    rows = document["bands"]
    count = len(document["leverages"])
    low = np.array([b["price_low"] for b in rows], dtype=float)
    high = np.array([b["price_high"] for b in rows], dtype=float)
    by_lev = np.array([b["notional_by_leverage_quote"] for b in rows], dtype=float)
    by_lev = by_lev.reshape(len(rows), count)
    intensity = np.array([b["intensity"] for b in rows], dtype=float)
    price = float(document["price"])
    if range_pct is None:
        range_pct = auto_range_pct(low, high, by_lev.sum(axis=1), price)
    keep = (high > price * (1 - range_pct / 100)) & (low < price * (1 + range_pct / 100))
    low, high, by_lev, intensity = low[keep], high[keep], by_lev[keep], intensity[keep]
    return Bands(np.flatnonzero(keep), low, high, by_lev[:, shown], by_lev, intensity)


def auto_range_pct(low: np.ndarray, high: np.ndarray, total: np.ndarray, price: float) -> float:
    """Percent either side of the price that holds every band with notional, plus a margin
    (the bands beyond are empty, so the chart does not waste width on them)."""
    filled = np.flatnonzero(total > 0)
    if len(filled) == 0:
        return 100.0
    reach = max(price - float(low[filled].min()), float(high[filled].max()) - price)
    return max(reach / price * 100 * 1.06, 1.0)


def cumulative(bands: Bands, price: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(below, cum_long, cum_short)`: which bands lie below the price, the notional liquidated
    if the price fell to each band below (0 elsewhere) and rose to each band above."""
    total = bands.total
    below = (bands.low + bands.high) / 2 < price
    cum_long = np.zeros_like(total)
    cum_short = np.zeros_like(total)
    cum_long[below] = np.cumsum(total[below][::-1])[::-1]
    cum_short[~below] = np.cumsum(total[~below])
    return below, cum_long, cum_short

def _cluster_tip(c: ClusterDoc, decimals: int, quote: str) -> str:
    where = "below" if c["side"] == "long" else "above"
    return "\n".join([
        f"Cluster #{c['rank']} ({c['side']} liquidations)",
        f"{scale.price(c['price_low'], decimals)} \u2013 {scale.price(c['price_high'], decimals)}"
        f" {quote}, peak {scale.price(c['peak_price'], decimals)}",
        f"Notional {scale.compact(c['notional_quote'])} {quote}",
        f"Intensity {c['intensity']:.2f}",
        f"{c['distance_pct']:.2f}% {where} the price",
    ])


def _clusters(clusters: list[ClusterDoc], frame: Frame, x: scale.Linear, decimals: int,
              quote: str, top: int) -> str:
    """Spans and strips, largest rank drawn first so rank 1 ends on top; labels placed greedily
    by rank in two rows above the strip, skipped where they would collide."""
    lo, hi = x.domain
    visible = [c for c in clusters if c["price_high"] > lo and c["price_low"] < hi]
    parts = []
    for c in sorted(visible, key=lambda c: -c["rank"]):
        ranked = c["rank"] <= top
        colour = palette.cluster_colour(c["rank"]) if ranked else palette.MINOR_CLUSTER_COLOUR
        x0 = x(max(c["price_low"], lo))
        x1 = x(min(c["price_high"], hi))
        span_width = max(x1 - x0, 1.0)
        body = [
            title(_cluster_tip(c, decimals, quote)),
            element("rect", {"class": "cluster-span", "x": x0, "y": frame.top,
                             "width": span_width, "height": frame.bottom - frame.top,
                             "fill": colour, "fill-opacity": 0.16 if ranked else 0.1}),
            element("rect", {"class": "cluster-strip", "x": x0, "y": frame.strip_top,
                             "width": span_width, "height": 9, "fill": colour}),
        ]
        parts.append(element("g", {
            "class": "cluster", "data-rank": c["rank"], "data-side": c["side"],
            "data-colour": colour, "data-price-low": c["price_low"],
            "data-price-high": c["price_high"], "data-notional": c["notional_quote"],
            "data-intensity": c["intensity"], "data-distance-pct": c["distance_pct"],
        }, "".join(body)))
    parts.append(_cluster_labels(visible, frame, x, top))
    return element("g", {"class": "clusters"}, "".join(parts))


def _cluster_labels(visible: list[ClusterDoc], frame: Frame, x: scale.Linear,
                    top: int) -> str:
    placed: list[list[tuple[float, float]]] = [[]] if frame.short else [[], []]
    parts = []
    lo, hi = x.domain
    for c in sorted(visible, key=lambda c: c["rank"]):
        if c["rank"] > top:
            continue
        label = f"#{c['rank']}"
        centre = (x(max(c["price_low"], lo)) + x(min(c["price_high"], hi))) / 2
        half = text_width(label, 10.5) / 2 + 2
        span = (centre - half, centre + half)
        for row, taken in enumerate(placed):
            if all(span[1] < a or span[0] > b for a, b in taken):
                taken.append(span)
                y = frame.strip_top - 3 - 12 * row
                parts.append(text(centre, y, label, font_size=10.5, font_weight="bold",
                                  fill=palette.cluster_colour(c["rank"]), text_anchor="middle",
                                  **{"class": "cluster-label", "data-rank": c["rank"]}))
                break
    return "".join(parts)


Stack = Literal["leverage", "venue"]


@dataclass(frozen=True, slots=True)
class Layers:
    """What the bars stack: `values[i, k]` of layer k in shown band i, each layer's colour and
    its `data-*` attribute (`leverage` or `venue`) and value."""

    by: Stack
    values: np.ndarray
    colours: list[str]
    names: list[str]

    def legend(self) -> list[tuple[str, str]]:
        if self.by == "venue":
            return list(zip(self.colours, self.names, strict=True))
        return [(c, f"{n}x") for c, n in zip(self.colours, self.names, strict=True)]


def venue_split(document: MapDocument) -> tuple[list[str], np.ndarray]:
    """The venues of a document and their notional per band `(bands, venues)`: an aggregated
    map's `notional_by_venue_quote`, else the one venue's band totals."""
    split = document.get("notional_by_venue_quote")
    if split:
        return list(split), np.array(list(split.values()), dtype=float).T
    totals = np.array([b["long_notional_quote"] + b["short_notional_quote"]
                       for b in document["bands"]], dtype=float)
    return [str(document["exchange"])], totals[:, None]


def _layers(document: MapDocument, bands: Bands, stack: Stack, shown: list[int],
            all_leverages: list[float]) -> Layers:
    if stack == "venue":
        names, values = venue_split(document)
        return Layers("venue", values[bands.index], palette.venue_colours(len(names)), names)
    ramp = palette.leverage_colours(len(all_leverages))
    return Layers("leverage", bands.by_leverage, [ramp[i] for i in shown],
                  [f"{all_leverages[i]:g}" for i in shown])


def _bars(bands: Bands, layers: Layers, frame: Frame, x: scale.Linear, y: scale.Linear) -> str:
    groups = []
    widths = x(bands.high[0]) - x(bands.low[0]) if len(bands.low) else 0.0
    gap = 0.12 * widths if widths > 3 else 0.0
    base = np.zeros(len(bands.low))
    for k, name in enumerate(layers.names):
        values = layers.values[:, k]
        rects = []
        for i in np.flatnonzero(values > 0):
            y_top = y(base[i] + values[i])
            y_bottom = y(base[i])
            x0 = x(bands.low[i]) + gap / 2
            rects.append(element("rect", {"x": x0, "y": y_top,
                                          "width": max(x(bands.high[i]) - x0 - gap / 2, 0.6),
                                          "height": max(y_bottom - y_top, 0.3)}))
        base += values
        groups.append(element("g", {
            "class": "bars", f"data-{layers.by}": name, "fill": layers.colours[k],
        }, "".join(rects)))
    return "".join(groups)


def _curve(points: list[tuple[float, float]], side: str) -> str:
    if len(points) < 2:
        return ""
    d = "M" + "L".join(f"{num(px)},{num(py)}" for px, py in points)
    return element("path", {"class": f"cum-curve cum-{side}", "d": d, "fill": "none",
                            "stroke": palette.CURVE_COLOUR, "stroke-width": 2,
                            "stroke-linejoin": "round"})


def _curves(bands: Bands, below: np.ndarray, cum_long: np.ndarray, cum_short: np.ndarray,
            price: float, x: scale.Linear, y2: scale.Linear) -> str:
    origin = (x(price), y2(0))
    longs = [origin] + [(x(bands.low[i]), y2(cum_long[i]))
                        for i in np.flatnonzero(below)[::-1]]
    shorts = [origin] + [(x(bands.high[i]), y2(cum_short[i]))
                         for i in np.flatnonzero(~below)]
    return _curve(longs, "long") + _curve(shorts, "short")


def _band_tips(bands: Bands, below: np.ndarray, cum_long: np.ndarray, cum_short: np.ndarray,
               clusters: list[ClusterDoc], leverages: list[float], price: float,
               decimals: int, quote: str, frame: Frame, x: scale.Linear,
               venues: tuple[list[str], np.ndarray] | None = None) -> str:
    """One transparent full-height hover target per band with notional."""
    total = bands.total
    parts = []
    for i in np.flatnonzero(total > 0):
        low, high = float(bands.low[i]), float(bands.high[i])
        side = "long" if below[i] else "short"
        distance = (price - high) / price * 100 if below[i] else (low - price) / price * 100
        split = " \u00b7 ".join(f"{leverage_label(lev)} {scale.compact(v)}"
                                for lev, v in zip(leverages, bands.all_leverage[i], strict=True)
                                if v > 0)
        cum = cum_long[i] if below[i] else cum_short[i]
        lines = [
            f"{scale.price(low, decimals)} \u2013 {scale.price(high, decimals)} {quote}",
            f"{side.capitalize()} liquidations {scale.compact(float(total[i]))} {quote}",
            f"By leverage: {split}",
        ]
        if venues is not None:
            names, by_venue = venues
            lines.append("By venue: " + " \u00b7 ".join(
                f"{name} {scale.compact(v)}" for name, v in zip(names, by_venue[i], strict=True)
                if v > 0))
        lines += [
            f"Intensity {bands.intensity[i]:.2f}",
            f"{max(distance, 0):.2f}% {'below' if below[i] else 'above'} the price",
            f"Cumulative to here {scale.compact(float(cum))} {quote}",
        ]
        inside = [c for c in clusters if c["price_low"] < high and c["price_high"] > low]
        if inside:
            lines.append("In cluster " + ", ".join(f"#{c['rank']}" for c in inside))
        x0 = x(low)
        parts.append(element("rect", {
            "class": "hit", "x": x0, "y": frame.top, "width": max(x(high) - x0, 1.0),
            "height": frame.bottom - frame.top, "data-price-low": low, "data-price-high": high,
            "data-notional": round(float(total[i]), 2),
        }, title("\n".join(lines))))
    return element("g", {"class": "hits", "fill": "transparent"}, "".join(parts))


def _price_marker(frame: Frame, px: float, price: float, decimals: int) -> str:
    label = scale.price(price, decimals)
    box = text_width(label, 11) + 10
    parts = [
        element("line", {"class": "price-line", "x1": px, "x2": px, "y1": frame.top,
                         "y2": frame.bottom, "stroke": palette.PRICE_COLOUR,
                         "stroke-width": 1.75, "data-price": price}),
        element("rect", {"x": px - box / 2, "y": frame.top + 2, "width": box, "height": 16,
                         "rx": 3, "fill": palette.PRICE_COLOUR}),
        text(px, frame.top + 14, label, font_size=11, font_weight="bold", fill="#ffffff",
             text_anchor="middle"),
    ]
    if px - frame.left > box / 2 + 150:
        parts.append(text(px - box / 2 - 6, frame.top + 14,
                          "\u25c0 longs liquidate below", font_size=11,
                          fill=palette.AXIS_COLOUR, text_anchor="end"))
    if frame.right - px > box / 2 + 150:
        parts.append(text(px + box / 2 + 6, frame.top + 14, "shorts liquidate above \u25b6",
                          font_size=11, fill=palette.AXIS_COLOUR))
    return element("g", {"class": "price-marker", "pointer-events": "none"}, "".join(parts))


def render_map_svg(
    document: MapDocument,
    *,
    width: int = 1200,
    height: int = 600,
    leverages: Sequence[float] | None = None,
    range_pct: float | None = None,
    freshness: dict[str, Any] | None = None,
    top_clusters: int = len(palette.CLUSTER_COLOURS),
    realised: RealisedPanel | None = None,
    stack: Stack = "leverage",
) -> str:
    """The map document as an SVG string.

    `stack` stacks the bars by leverage or by venue (`venue_split`; every leverage: a venue
    layer is not split by leverage, so `leverages` then raises ValueError);
    `leverages` keeps only those leverage layers (ValueError for one the map does not have);
    `range_pct` shows only bands within that percent of the price (default: just wide enough
    for every band with notional, `auto_range_pct`); `freshness` (`version`,
    `age_s`, `stale`, `max_age_s`) goes into the subtitle, the STALE mark and `data-*`;
    `realised` adds the panel of realised liquidations under the map.
    """
    all_leverages = [float(v) for v in document["leverages"]]
    if stack == "venue" and leverages:
        raise ValueError("bars stacked by venue show every leverage")
    shown = leverage_indices(all_leverages, leverages)
    bands = _bands(document, shown, range_pct)
    price = float(document["price"])
    quote = document["quote_currency"]
    decimals = chart_decimals(price)
    layers = _layers(document, bands, stack, shown, all_leverages)
    legend_rows = legend_layout(legend_items(layers.legend(), layers.by),
                                width - sum(margins(width)))
    frame = frame_for(width, height, len(legend_rows),
                      None if realised is None else lambda h: panel_height(h, realised))

    below, cum_long, cum_short = cumulative(bands, price)
    lo = float(bands.low[0]) if len(bands.low) else price * 0.99
    hi = float(bands.high[-1]) if len(bands.high) else price * 1.01
    x = scale.Linear((lo, hi), (frame.left, frame.right))
    y = scale.Linear((0.0, max(float(bands.total.max(initial=0.0)) * 1.12, 1.0)),
                     (frame.bottom, frame.top))
    peak_cum = max(float(cum_long.max(initial=0.0)), float(cum_short.max(initial=0.0)))
    y2 = scale.Linear((0.0, max(peak_cum * 1.05, 1.0)), (frame.bottom, frame.top))

    shown_label = None
    if len(shown) < len(all_leverages):
        shown_label = ", ".join(leverage_label(all_leverages[i]) for i in shown)
    clusters = document.get("clusters", [])
    body = [
        header(document, frame, freshness, shown_label),
        "" if frame.short else legend(legend_rows, frame),
        axes(frame, x, y, y2, price, quote, float(document.get("bin_width_bps", 0))),
        _clusters(clusters, frame, x, decimals, quote, top_clusters),
        _bars(bands, layers, frame, x, y),
        _curves(bands, below, cum_long, cum_short, price, x, y2),
        _price_marker(frame, x(price), price, decimals),
        _band_tips(bands, below, cum_long, cum_short, clusters, all_leverages, price,
                   decimals, quote, frame, x, _venue_tips(document, bands)),
    ]
    if realised is not None:
        predicted = bands.all_leverage.sum(axis=1)
        body.append(draw_panel(realised, bands.index, bands.low, bands.high, predicted,
                               frame.left, frame.right, frame.panel_top, frame.panel_bottom, x,
                               quote))
    fresh = freshness or {}
    data = {
        "chart": "map",
        "symbol": document["symbol"],
        "window": document["window"],
        "exchange": document.get("exchange"),
        "price": price,
        "leverages": ",".join(f"{v:g}" for v in all_leverages),
        "shown-leverages": ",".join(f"{all_leverages[i]:g}" for i in shown),
        "stack": layers.by,
        "venues": ",".join(venue_split(document)[0]),
        "version": fresh.get("version"),
        "computed-at-ms": fresh.get("computed_at_ms"),
        "age-s": fresh.get("age_s"),
        "stale": None if "stale" not in fresh else str(bool(fresh["stale"])).lower(),
        "max-age-s": fresh.get("max_age_s"),
        "plot": f"{num(frame.left)},{num(frame.top)},{num(frame.right)},{num(frame.bottom)}",
        "x-domain": f"{lo!r},{hi!r}",
    }
    return svg_document(width, height, body, data, label=_aria(document))


def _venue_tips(document: MapDocument, bands: Bands) -> tuple[list[str], np.ndarray] | None:
    """The venue split of the shown bands, for an aggregated map's tooltips."""
    if not document.get("notional_by_venue_quote"):
        return None
    names, values = venue_split(document)
    return names, values[bands.index]


def _aria(document: MapDocument) -> str:
    return (f"Liquidation map of {document['symbol']} ({document['window']} window) at price "
            f"{document['price']} {document['quote_currency']}")
