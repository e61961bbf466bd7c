"""A map document restricted to some leverages: what `GET /map/{symbol}?leverage=` answers.

Each band's notional becomes the sum over the kept leverages (`notional_by_leverage_quote`);
a band below the price holds only long liquidations and one above only short ones, so the
long / short split follows. Cumulative curves, intensities, totals and clusters are then
recomputed with the model's own functions on the filtered profile. `totals.out_of_range_*`
stay those of all leverages (the document does not split them by leverage), and so do the
venue totals of an aggregated map (`venues`); its per-band and per-cluster venue notionals are
left out (they are not split by leverage either).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from execsvc.domain.map_document import Band, MapDocument, leverage_indices
from execsvc.domain.units import price_decimals
from execsvc.liqmap.bands import BandGrid, cumulative_outward, relative_intensity
from execsvc.liqmap.clusters import find_clusters
from execsvc.maps.document import cluster_docs


def for_leverages(document: MapDocument, wanted: Sequence[float]) -> MapDocument:
    """`document` with only the `wanted` leverages (see the module docstring)."""
    leverages = [float(v) for v in document["leverages"]]
    kept = leverage_indices(leverages, wanted)
    document = {k: v for k, v in document.items()  # type: ignore[assignment]
                if k != "notional_by_venue_quote"}
    bands = document["bands"]
    if not bands:
        return {**document, "leverages": [leverages[i] for i in kept]}
    by_leverage = np.array([b["notional_by_leverage_quote"] for b in bands], dtype=np.float64)
    by_leverage = by_leverage.reshape(len(bands), len(leverages))[:, kept]
    total = by_leverage.sum(axis=1)
    price = float(document["price"])
    low = np.array([b["price_low"] for b in bands])
    below = low < price
    long_notional = np.where(below, total, 0.0)
    short_notional = np.where(below, 0.0, total)
    n_side = int(below.sum())
    cum_long, cum_short = cumulative_outward(long_notional, short_notional, n_side)
    intensity = relative_intensity(total)
    grid = BandGrid(price, float(document["bin_width_bps"]), n_side)
    decimals = price_decimals(price)
    clusters = find_clusters(grid, long_notional, short_notional)
    filtered: list[Band] = [
        {**band,
         "long_notional_quote": round(float(long_notional[k]), 2),
         "short_notional_quote": round(float(short_notional[k]), 2),
         "notional_by_leverage_quote": [round(float(v), 2) for v in by_leverage[k]],
         "cum_long_notional_quote": round(float(cum_long[k]), 2),
         "cum_short_notional_quote": round(float(cum_short[k]), 2),
         "intensity": round(float(intensity[k]), 4)}
        for k, band in enumerate(bands)
    ]
    totals = {**document["totals"],
              "long_notional_quote": round(float(long_notional.sum()), 2),
              "short_notional_quote": round(float(short_notional.sum()), 2)}
    return {
        **document,
        "leverages": [leverages[i] for i in kept],
        "bands": filtered,
        "clusters": cluster_docs(clusters, decimals),
        "totals": totals,
    }
