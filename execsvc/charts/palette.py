"""Colours. Clusters get a categorical palette by rank (colours tell clusters apart; they say
nothing about direction); leverage layers a sequential ramp of one hue, venue layers a
categorical palette; the heatmap a perceptually uniform sequential scale (viridis)."""

from __future__ import annotations

import numpy as np

CLUSTER_COLOURS = (
    "#f76707",  # orange
    "#9c36b5",  # purple
    "#2b8a3e",  # green
    "#e03131",  # red
    "#fab005",  # yellow
    "#0b7285",  # dark teal
    "#8d5524",  # brown
    "#f06595",  # pink
    "#94d82d",  # lime
    "#495057",  # charcoal
)
"""Cluster colours by rank (rank 1 first), hues and lightness far apart. No blues: the bars
use a blue ramp."""

MINOR_CLUSTER_COLOUR = "#adb5bd"
"""Clusters ranked beyond the palette: drawn in neutral grey."""

LEVERAGE_RAMP = ("#74c0fc", "#339af0", "#1971c2", "#1864ab", "#0b3d6b", "#062b4f")
"""Bar colours from the lowest to the highest leverage (light to dark blue)."""

VENUE_COLOURS = ("#1971c2", "#f08c00", "#0ca678", "#7048e8", "#c2255c", "#5c940d",
                 "#868e96")
"""Bar colours of the venues when bars are stacked by venue (in the document's order), hues
far apart; venues beyond the list repeat it."""

CURVE_COLOUR = "#212529"
PRICE_COLOUR = "#000000"
STALE_COLOUR = "#e03131"
AXIS_COLOUR = "#495057"
GRID_COLOUR = "#e9ecef"
MUTED_TEXT = "#6c757d"
REALISED_LONG_COLOUR = "#c2255c"
"""Realised liquidations of long positions (the panel under the map, marks on the heatmap)."""
REALISED_SHORT_COLOUR = "#2f9e44"
"""Realised liquidations of short positions."""


def cluster_colour(rank: int) -> str:
    """The colour of the cluster of rank `rank` (1-based)."""
    if 1 <= rank <= len(CLUSTER_COLOURS):
        return CLUSTER_COLOURS[rank - 1]
    return MINOR_CLUSTER_COLOUR


def venue_colours(count: int) -> list[str]:
    """`count` venue colours (`VENUE_COLOURS`, in order)."""
    return [VENUE_COLOURS[i % len(VENUE_COLOURS)] for i in range(count)]


def leverage_colours(count: int) -> list[str]:
    """`count` colours from the leverage ramp, spread from light to dark."""
    if count <= 0:
        return []
    if count == 1:
        return [LEVERAGE_RAMP[2]]
    last = len(LEVERAGE_RAMP) - 1
    span = min(last, max(count - 1, 3))
    return [LEVERAGE_RAMP[round(i * span / (count - 1))] for i in range(count)]


VIRIDIS_STOPS = np.array([
    (68, 1, 84), (72, 40, 120), (62, 73, 137), (49, 104, 142), (38, 130, 142),
    (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37),
], dtype=float)
"""Ten evenly spaced samples of matplotlib's viridis, interpolated linearly in between."""


def viridis(levels: np.ndarray) -> np.ndarray:
    """RGB (uint8, shape `levels.shape + (3,)`) for levels in 0..1 (clipped)."""
    position = np.clip(levels, 0.0, 1.0) * (len(VIRIDIS_STOPS) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(VIRIDIS_STOPS) - 1)
    frac = (position - low)[..., None]
    rgb = VIRIDIS_STOPS[low] * (1.0 - frac) + VIRIDIS_STOPS[high] * frac
    return np.round(rgb).astype(np.uint8)


def hex_rgb(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)
