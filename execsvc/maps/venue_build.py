"""A venue's maps of a symbol: built and encoded with that venue's own liquidation formula.

`build_venue` is the one build path of a venue's maps: the worker, `execsvc map`, `execsvc
evaluate`, the backtest and the benchmarks all take it, so the same snapshot gives the same
document bytes everywhere. The venue is the snapshot's `info.exchange`; its formula is
`liqmap.venue_rules.venue_formula` (Bybit picks the tier by the position value at entry, every
other venue by Binance's rule), set on the model parameters by `venue_params`. Every other
model parameter is the caller's. `VenueModels` keeps each venue's parameters and model
description, computed once per venue.

`venue_coverage` says which venue covers which symbol, and under which exchange name its maps
are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import orjson

from execsvc.domain.map_document import CandleStats, EncodedDocument, MapDocument
from execsvc.liqmap.model import LiquidationMap, MapParams
from execsvc.liqmap.venue_rules import venue_formula
from execsvc.maps.document import ModelDescription
from execsvc.maps.refresh import MarketSnapshot, build_maps, candle_stats, encode_maps
from execsvc.market.types import MarketSource, SymbolInfo


@dataclass(frozen=True, slots=True)
class VenueBuild:
    """One venue's part of a symbol's refresh: its snapshot, map and encoded document per
    window (and its candle figures, when already computed), or `error`, why it has none this
    tick."""

    venue: str
    snapshot: MarketSnapshot | None = None
    maps: dict[str, LiquidationMap] = field(default_factory=dict)
    error: str | None = None
    candle_stats: CandleStats | None = None
    documents: list[EncodedDocument] = field(default_factory=list)

    def stats(self) -> CandleStats | None:
        """The snapshot's `candle_stats` (those given, else computed)."""
        if self.snapshot is None or self.candle_stats is not None:
            return self.candle_stats
        return candle_stats(self.snapshot.candles, self.snapshot.now_ms)


def venue_params(params: MapParams, venue: str) -> MapParams:
    """`params` with `venue`'s own liquidation formula (`liqmap.venue_rules.venue_formula`)."""
    formula = venue_formula(venue)
    return params if formula == params.formula else replace(params, formula=formula)


class VenueModels:
    """The model parameters and description of each venue's maps: the given parameters with
    the venue's liquidation formula (`venue_params`), computed once per venue. `params` and
    `model` are those of the given parameters (what the `all` documents state)."""

    def __init__(self, params: MapParams) -> None:
        self.params = params
        self.model = ModelDescription.of(params)
        self._known: dict[str, tuple[MapParams, ModelDescription]] = {}

    def of(self, venue: str) -> tuple[MapParams, ModelDescription]:
        """`venue`'s model parameters and their description."""
        known = self._known.get(venue)
        if known is None:
            params = venue_params(self.params, venue)
            known = (params, self.model if params is self.params
                     else ModelDescription.of(params))
            self._known[venue] = known
        return known


def build_venue(snapshot: MarketSnapshot, windows: dict[str, int], models: VenueModels
                ) -> VenueBuild:
    """The snapshot's venue's map and encoded document of each window (name -> seconds), with
    the venue's liquidation formula, stored under the snapshot's `info.exchange`. Whatever the
    model raises propagates (the caller decides what a failure stops)."""
    venue = snapshot.info.exchange
    params, model = models.of(venue)
    maps = build_maps(snapshot, windows, params)
    stats = candle_stats(snapshot.candles, snapshot.now_ms)
    documents = encode_maps(snapshot, maps, params, model, stats)
    return VenueBuild(venue, snapshot, maps, candle_stats=stats, documents=documents)


def encode_documents(snapshot: MarketSnapshot, windows: dict[str, int], params: MapParams
                     ) -> list[EncodedDocument]:
    """`build_venue`'s documents of one snapshot (one encoded document per window)."""
    return build_venue(snapshot, windows, VenueModels(params)).documents


def build_documents(snapshot: MarketSnapshot, windows: dict[str, int], params: MapParams
                    ) -> list[MapDocument]:
    """`encode_documents` as dicts (the stored bytes parsed): what the API serves."""
    return [orjson.loads(document.json)
            for document in encode_documents(snapshot, windows, params)]


def venue_coverage(sources: MarketSource | Mapping[str, MarketSource]
                   ) -> dict[str, dict[str, tuple[SymbolInfo, MarketSource]]]:
    """Symbol -> venue id -> (what the venue's source knows of it, the source), venues in the
    given order. Several venues are named by their keys (the `exchange` of every map they
    build); a single source, or a mapping of one, keeps the exchange its symbols name (the
    bundled replay stores FTX's BTC-PERP under `ftx`)."""
    named = dict(sources) if isinstance(sources, Mapping) else {"": sources}
    coverage: dict[str, dict[str, tuple[SymbolInfo, MarketSource]]] = {}
    for venue, source in named.items():
        for info in source.symbols():
            if len(named) > 1:
                info = replace(info, exchange=venue)
            coverage.setdefault(info.symbol, {})[info.exchange] = (info, source)
    return coverage
