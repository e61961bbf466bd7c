"""`execsvc map`: build one map from the configured source (or CSV files) and print it."""

from __future__ import annotations

from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from execsvc.domain.map_document import AGGREGATE_EXCHANGE, EncodedDocument, MapDocument
from execsvc.domain.units import price_decimals
from execsvc.maps.aggregate import aggregate_documents
from execsvc.maps.refresh import fetch_snapshot, map_params, snapshot_lookback_s
from execsvc.maps.venue_build import VenueModels, build_venue, venue_coverage
from execsvc.market.sources import build_market_sources
from execsvc.market.types import MarketSource
from execsvc.runtime import make_source
from execsvc.settings import Settings


async def build_document(
    settings: Settings, symbol: str, window: str, data_dir: Path | None,
    exchange: str | None = None,
) -> MapDocument:
    """The same fetch and build the worker does, for one symbol and window, without a store:
    one venue's map (`exchange`), or the venues' maps summed (`all`, the default when several
    configured venues cover the symbol). `data_dir`: one venue of CSV files."""
    if data_dir is not None:
        sources = {"csv": make_source(settings, data_dir)}
    else:
        sources = build_market_sources(settings)
    try:
        encoded = await encode_document(sources, settings, symbol, window, exchange)
    finally:
        for source in sources.values():
            await source.close()
    return orjson.loads(encoded.json)


async def encode_document(
    sources: dict[str, MarketSource], settings: Settings, symbol: str, window: str,
    exchange: str | None = None,
) -> EncodedDocument:
    """`build_document` from the given venues' sources (venue id -> source), as the worker
    stores it: the venues are named as the worker names them (`venue_coverage`) and each
    venue's maps come from `build_venue`, so a venue's document is the bytes the worker stores
    for the same market data."""
    covering = venue_coverage(sources).get(symbol)
    if not covering:
        known = sorted({i.symbol for source in sources.values() for i in source.symbols()})
        raise ValueError(f"unknown symbol {symbol}; the sources have: {', '.join(known)}")
    chosen = exchange or (AGGREGATE_EXCHANGE if len(covering) > 1 else next(iter(covering)))
    if chosen != AGGREGATE_EXCHANGE and chosen not in covering:
        raise ValueError(f"unknown exchange {chosen} for {symbol}; choose "
                         f"{', '.join([AGGREGATE_EXCHANGE, *covering])}")
    venues = list(covering) if chosen == AGGREGATE_EXCHANGE else [chosen]
    windows = {window: settings.window_seconds[window]}
    models = VenueModels(map_params(settings))
    lookback_s = snapshot_lookback_s(settings.window_seconds, models.params)
    builds = []
    for venue in venues:
        info, source = covering[venue]
        builds.append(build_venue(await fetch_snapshot(source, info, lookback_s), windows,
                                  models))
    if len(builds) == 1:
        return builds[0].documents[0]
    summed, missing = aggregate_documents(symbol, builds, [window], models.params,
                                          settings.max_map_age_s, models.model)
    if not summed:
        raise ValueError(missing)
    return summed[0]


def _money(value: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.2f}{unit}"
    return f"{value:,.0f}"


def _grouped_rows(document: MapDocument, group: int, per_side: int) -> list[dict[str, float]]:
    """Bands merged `group` at a time outward from the price, `per_side` rows on each side."""
    bands = document["bands"]
    middle = len(bands) // 2
    rows = []
    for start in range(middle + (per_side - 1) * group, middle - per_side * group - 1, -group):
        chunk = bands[max(0, start) : max(0, start + group)]
        if not chunk:
            continue
        rows.append({
            "low": chunk[0]["price_low"],
            "high": chunk[-1]["price_high"],
            "long": sum(b["long_notional_quote"] for b in chunk),
            "short": sum(b["short_notional_quote"] for b in chunk),
            "cum_long": chunk[0]["cum_long_notional_quote"],
            "cum_short": chunk[-1]["cum_short_notional_quote"],
        })
    return rows


def _bands_table(document: MapDocument, row_bps: float, per_side: int) -> Table:
    group = max(1, round(row_bps / document["bin_width_bps"]))
    rows = _grouped_rows(document, group, per_side)
    decimals = max(0, price_decimals(document["price"]) - 1)
    peak = max((r["long"] + r["short"] for r in rows), default=0.0) or 1.0
    table = Table(
        title=f"Liquidation notional ({document['quote_currency']}) in rows of "
        f"{group * document['bin_width_bps']:g} bps", title_justify="left",
    )
    for column in ("price range", "long liq.", "short liq.", "cum. long", "cum. short", ""):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        bar = "█" * round(16 * (row["long"] + row["short"]) / peak)
        table.add_row(
            f"{row['low']:,.{decimals}f} – {row['high']:,.{decimals}f}",
            _money(row["long"]), _money(row["short"]),
            _money(row["cum_long"]), _money(row["cum_short"]), bar,
            end_section=abs(row["low"] - document["price"]) < 1e-9 * document["price"],
        )
    return table


def _clusters_table(document: MapDocument) -> Table:
    table = Table(title="Clusters (largest first)", title_justify="left")
    for column in ("rank", "side", "price range", "peak", "notional", "intensity", "distance"):
        table.add_column(column, justify="right")
    for c in document["clusters"]:
        table.add_row(
            str(c["rank"]), c["side"], f"{c['price_low']:,} – {c['price_high']:,}",
            f"{c['peak_price']:,}", _money(c["notional_quote"]), f"{c['intensity']:.2f}",
            f"{c['distance_pct']:.2f} %",
        )
    return table


def render(document: MapDocument, row_bps: float, per_side: int) -> None:
    console = Console(width=max(100, Console().width))
    totals = document["totals"]
    console.print(
        f"[bold]{document['symbol']}[/] on {document['exchange']}  window {document['window']}  "
        f"price {document['price']:,} {document['quote_currency']}  model {document['model']}  "
        f"data up to {document['data_end']}"
    )
    console.print(
        f"long liquidations below: {_money(totals['long_notional_quote'])}   "
        f"short liquidations above: {_money(totals['short_notional_quote'])}   "
        f"bands of {document['bin_width_bps']} bps"
    )
    for venue in document.get("venues", []):
        console.print(
            f"  {venue['exchange']}: " + (
                f"long {_money(venue['long_notional_quote'])}, "
                f"short {_money(venue['short_notional_quote'])}" if venue["included"]
                else f"dropped ({venue['reason']})"))
    console.print(_bands_table(document, row_bps, per_side))
    console.print(_clusters_table(document))
