"""The `all` documents: a symbol's maps on every venue summed per window
(`liqmap.aggregate`), with each venue named, in the sum or dropped with its reason.

A venue is dropped from a window's sum when its refresh failed this tick (the failure is the
reason) or when its data is stale by the one staleness rule (`stale_reason` of its candle lag,
as for any served map). The `stats`, `precision` and `quote_currency` of the sum are those of
the first venue in the sum (configured order): `stats_exchange` names it, and advice on the
aggregated map reads that venue's book. Quote currencies are summed as they are (USDT and
USDC count alike).
"""

from __future__ import annotations

from collections.abc import Sequence

from execsvc.domain.map_document import (
    AGGREGATE_EXCHANGE,
    CandleStats,
    EncodedDocument,
    VenueStatus,
    stale_reason,
)
from execsvc.liqmap.aggregate import aggregate_maps
from execsvc.liqmap.model import MapParams
from execsvc.maps.document import ModelDescription, VenueParts, encode_document
from execsvc.maps.venue_build import VenueBuild


def _status(build: VenueBuild, stats: CandleStats | None, window: str,
            max_map_age_s: float) -> VenueStatus:
    """The venue's status before summing: dropped (with the reason) or to be included."""
    liq_map = build.maps.get(window)
    reason = (build.error or "no map built") if liq_map is None or stats is None else (
        stale_reason(0.0, stats["data_lag_s"], stats["candle_interval_s"], max_map_age_s))
    return {
        "exchange": build.venue, "included": reason is None,
        "long_notional_quote": None, "short_notional_quote": None,
        "price": None if liq_map is None else liq_map.price,
        "data_end_ms": None if liq_map is None else liq_map.data_end_ms,
        "data_lag_s": None if stats is None else stats["data_lag_s"],
        "stale": reason is not None, "reason": reason,
    }


def aggregate_documents(
    symbol: str, builds: Sequence[VenueBuild], windows: Sequence[str], params: MapParams,
    max_map_age_s: float, model: ModelDescription | None = None,
) -> tuple[list[EncodedDocument], str | None]:
    """The `all` document of each window with at least one venue in the sum, and, when some
    window has none, why (every venue's reason)."""
    model = model or ModelDescription.of(params)
    stats = {build.venue: build.stats() for build in builds}
    documents: list[EncodedDocument] = []
    missing: str | None = None
    for window in windows:
        statuses = [_status(b, stats[b.venue], window, max_map_age_s) for b in builds]
        included = [b for b, s in zip(builds, statuses, strict=True) if s["included"]]
        if not included:
            missing = "no venue to sum: " + "; ".join(
                f"{s['exchange']}: {s['reason']}" for s in statuses)
            continue
        aggregate = aggregate_maps({b.venue: b.maps[window] for b in included},
                                   params.min_peak_fraction)
        for venue, long, short in zip(aggregate.venues, aggregate.venue_long,
                                      aggregate.venue_short, strict=True):
            status = next(s for s in statuses if s["exchange"] == venue)
            status["long_notional_quote"] = round(float(long), 2)
            status["short_notional_quote"] = round(float(short), 2)
        first = included[0]
        info, precision = first.snapshot.info, first.snapshot.precision  # type: ignore[union-attr]
        documents.append(encode_document(
            aggregate.combined, exchange=AGGREGATE_EXCHANGE, symbol=symbol, window=window,
            quote_currency=info.quote_currency, params=params, stats=stats[first.venue],
            model=model, precision=precision, venue_parts=VenueParts(aggregate, statuses,
                                                                      first.venue),
        ))
    return documents, missing
