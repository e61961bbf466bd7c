"""The server-rendered charts, checked for content: bars where the bands are, stacked by
leverage; the price line at the map's price; clusters in their rank colours; cumulative curves;
tooltips; the heatmap's raster and price path; and the SVG/page routes over a real store."""

from __future__ import annotations

import base64
import itertools
import re
import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest
from redis.asyncio import Redis

from execsvc.charts import palette, render_heatmap_svg, render_map_svg
from execsvc.charts.png import encode_rgb
from execsvc.charts.scale import compact, nice_step, percent, ticks
from execsvc.charts.svg_heatmap import latest_run, sample_grid
from execsvc.charts.svg_realised import RealisedPanel
from execsvc.domain.liquidations import LiquidationEvent, event_id
from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client

NS = {"s": "http://www.w3.org/2000/svg"}
LOW, WIDTH, PRICE = 90.0, 1.0, 100.0
# band index -> notional by leverage (10x, 50x)
FILLED = {5: (3e6, 1e6), 8: (0.0, 2e6), 12: (0.0, 4e6), 15: (1e6, 0.0)}


def synthetic_document(symbol: str = "TESTUSDT", clusters: list[dict] | None = None) -> dict:
    """Twenty 1-wide bands 90..110 around the price 100, two leverages, known notional."""
    bands = []
    totals = [sum(FILLED.get(i, (0.0, 0.0))) for i in range(20)]
    peak = max(totals)
    for i in range(20):
        by_lev = list(FILLED.get(i, (0.0, 0.0)))
        below = i < 10
        bands.append({
            "price_low": LOW + i * WIDTH, "price_high": LOW + (i + 1) * WIDTH,
            "long_notional_quote": totals[i] if below else 0.0,
            "short_notional_quote": 0.0 if below else totals[i],
            "notional_by_leverage_quote": by_lev,
            "cum_long_notional_quote": sum(totals[i:10]) if below else 0.0,
            "cum_short_notional_quote": 0.0 if below else sum(totals[10:i + 1]),
            "intensity": totals[i] / peak,
        })
    if clusters is None:
        clusters = [
            cluster(1, "short", 102, 103, 4e6),
            cluster(2, "long", 95, 96, 4e6),
            cluster(3, "long", 98, 99, 2e6),
        ]
    return {
        "exchange": "binanceusdm", "symbol": symbol, "window": "7d", "model": "oi_delta",
        "quote_currency": "USDT", "price": PRICE, "data_end_ms": 1_767_698_773_854,
        "bin_width_bps": 100.0, "leverages": [10.0, 50.0], "clusters": clusters, "bands": bands,
    }


def cluster(rank: int, side: str, low: float, high: float, notional: float) -> dict:
    distance = (PRICE - high) / PRICE * 100 if side == "long" else (low - PRICE) / PRICE * 100
    return {"rank": rank, "side": side, "price_low": low, "price_high": high,
            "peak_price": (low + high) / 2, "notional_quote": notional, "intensity": 1.0,
            "distance_pct": distance}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def plot_box(root: ET.Element) -> tuple[float, float, float, float]:
    left, top, right, bottom = (float(v) for v in root.get("data-plot").split(","))
    return left, top, right, bottom


def x_of(root: ET.Element, price: float) -> float:
    left, _, right, _ = plot_box(root)
    low, high = (float(v) for v in root.get("data-x-domain").split(","))
    return left + (price - low) / (high - low) * (right - left)


def bar_groups(root: ET.Element) -> dict[str, list[ET.Element]]:
    return {g.get("data-leverage"): g.findall("s:rect", NS)
            for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "bars"}


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{{http://www.w3.org/2000/svg}}{tag}")
            if cls in (e.get("class") or "").split()]


def path_points(d: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in re.findall(r"(-?[\d.]+),(-?[\d.]+)", d)]


# --- the map ------------------------------------------------------------------------------


def test_map_svg_has_size_title_and_metadata() -> None:
    root = parse(render_map_svg(synthetic_document(), width=900, height=500,
                                freshness={"version": 7, "age_s": 1.5, "stale": False,
                                           "computed_at_ms": 1, "max_age_s": 30}))
    assert (root.get("width"), root.get("height")) == ("900", "500")
    assert root.get("data-symbol") == "TESTUSDT" and root.get("data-version") == "7"
    assert root.get("data-stale") == "false" and root.get("data-max-age-s") == "30"
    title = by_class(root, "text", "chart-title")[0].text
    assert "TESTUSDT" in title and "7d" in title
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "Liquidations per 100 bps band (USDT)" in texts
    assert "Cumulative liquidations (USDT)" in texts and "Price (USDT)" in texts
    assert "10x" in texts and "50x" in texts and "Current price" in texts
    assert not by_class(root, "text", "stale-mark")


def test_bars_sit_on_their_bands_stacked_by_leverage() -> None:
    root = parse(render_map_svg(synthetic_document(), range_pct=10))
    groups = bar_groups(root)
    assert set(groups) == {"10", "50"}
    assert len(groups["10"]) == 2 and len(groups["50"]) == 3
    ramp = palette.leverage_colours(2)
    fills = {g.get("data-leverage"): g.get("fill") for g in by_class(root, "g", "bars")}
    assert fills == {"10": ramp[0], "50": ramp[1]}

    def band_of(rect: ET.Element) -> int:
        centre = float(rect.get("x")) + float(rect.get("width")) / 2
        return next(i for i in range(20)
                    if x_of(root, LOW + i) <= centre <= x_of(root, LOW + i + 1))

    lev10 = {band_of(r): r for r in groups["10"]}
    lev50 = {band_of(r): r for r in groups["50"]}
    assert set(lev10) == {5, 15} and set(lev50) == {5, 8, 12}
    # at band 5 the 50x layer sits on the 10x layer (3M below 1M)
    assert float(lev50[5].get("y")) + float(lev50[5].get("height")) == pytest.approx(
        float(lev10[5].get("y")), abs=0.15)
    assert float(lev10[5].get("height")) == pytest.approx(
        3 * float(lev50[5].get("height")), rel=0.02)
    # bands 5 and 12 hold the most (4M each): their tops are level and highest
    top5 = float(lev50[5].get("y"))
    assert top5 == pytest.approx(float(lev50[12].get("y")), abs=0.15)
    assert top5 < float(lev50[8].get("y")) < float(lev10[15].get("y"))


def test_bars_stack_by_venue_with_each_venues_share() -> None:
    """An aggregated map split 1:3 between two venues in every band: one bar layer per venue,
    the second three times the first and stacked on it; tooltips name each venue's part."""
    document = synthetic_document()
    totals = [b["long_notional_quote"] + b["short_notional_quote"] for b in document["bands"]]
    document |= {"exchange": "all", "notional_by_venue_quote": {
        "binanceusdm": [t / 4 for t in totals], "bybit": [3 * t / 4 for t in totals]}}
    root = parse(render_map_svg(document, range_pct=10, stack="venue"))
    assert root.get("data-stack") == "venue" and root.get("data-venues") == "binanceusdm,bybit"
    layers = {g.get("data-venue"): (g.get("fill"), g.findall("s:rect", NS))
              for g in by_class(root, "g", "bars")}
    assert list(layers) == ["binanceusdm", "bybit"]
    assert [fill for fill, _ in layers.values()] == palette.venue_colours(2)
    assert len(layers["binanceusdm"][1]) == len(layers["bybit"][1]) == 4
    for a, b in zip(layers["binanceusdm"][1], layers["bybit"][1], strict=True):
        assert float(b.get("height")) == pytest.approx(3 * float(a.get("height")), rel=0.02)
        assert float(b.get("y")) + float(b.get("height")) == pytest.approx(
            float(a.get("y")), abs=0.15)
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "Bars by venue:" in texts and "bybit" in texts
    tips = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any("By venue: binanceusdm 1M \u00b7 bybit 3M" in (t or "") for t in tips)
    with pytest.raises(ValueError, match="every leverage"):
        render_map_svg(document, stack="venue", leverages=[10.0])


def test_one_venues_map_stacked_by_venue_is_one_layer() -> None:
    root = parse(render_map_svg(synthetic_document(), stack="venue"))
    (layer,) = by_class(root, "g", "bars")
    assert layer.get("data-venue") == "binanceusdm" and len(layer.findall("s:rect", NS)) == 4


def test_price_line_is_at_the_price() -> None:
    root = parse(render_map_svg(synthetic_document()))
    (line,) = by_class(root, "line", "price-line")
    assert float(line.get("data-price")) == PRICE
    assert float(line.get("x1")) == float(line.get("x2"))
    assert float(line.get("x1")) == pytest.approx(x_of(root, PRICE), abs=0.06)
    left, _, right, _ = plot_box(root)
    assert left < float(line.get("x1")) < right


def test_clusters_are_coloured_by_rank_not_by_side() -> None:
    many = [cluster(r, "long" if r % 2 else "short", LOW + r * 0.5, LOW + r * 0.5 + 0.4, 1e6)
            for r in range(1, 13)]
    for clusters in (many, [{**c, "side": "short" if c["side"] == "long" else "long"}
                            for c in many]):
        root = parse(render_map_svg(synthetic_document(clusters=clusters), range_pct=20))
        groups = {int(g.get("data-rank")): g for g in by_class(root, "g", "cluster")}
        assert set(groups) == set(range(1, 13))
        for rank, group in groups.items():
            strip = next(e for e in group if e.get("class") == "cluster-strip")
            expected = (palette.CLUSTER_COLOURS[rank - 1] if rank <= 10
                        else palette.MINOR_CLUSTER_COLOUR)
            assert strip.get("fill") == expected == group.get("data-colour")
    assert len(set(palette.CLUSTER_COLOURS)) == len(palette.CLUSTER_COLOURS)
    assert palette.MINOR_CLUSTER_COLOUR not in palette.CLUSTER_COLOURS


def test_cluster_hover_gives_range_notional_intensity_distance() -> None:
    root = parse(render_map_svg(synthetic_document()))
    group = next(g for g in by_class(root, "g", "cluster") if g.get("data-rank") == "2")
    tip = group.find("s:title", NS).text
    assert "Cluster #2 (long liquidations)" in tip
    assert "95.00 \u2013 96.00 USDT" in tip and "Notional 4M USDT" in tip
    assert "Intensity 1.00" in tip and "4.00% below the price" in tip


def test_band_hover_gives_range_notional_intensity_distance() -> None:
    root = parse(render_map_svg(synthetic_document()))
    hits = {float(h.get("data-price-low")): h for h in by_class(root, "rect", "hit")}
    assert set(hits) == {95.0, 98.0, 102.0, 105.0}
    tip = hits[95.0].find("s:title", NS).text
    assert tip.splitlines()[0] == "95.00 \u2013 96.00 USDT"
    assert "Long liquidations 4M USDT" in tip and "10x 3M \u00b7 50x 1M" in tip
    assert "Intensity 1.00" in tip and "4.00% below the price" in tip
    assert "Cumulative to here 6M USDT" in tip and "In cluster #2" in tip
    short_tip = hits[105.0].find("s:title", NS).text
    assert "Short liquidations 1M" in short_tip and "5.00% above the price" in short_tip


def test_cumulative_curves_fall_left_and_rise_right() -> None:
    root = parse(render_map_svg(synthetic_document(), range_pct=10))
    _, top, _, bottom = plot_box(root)
    (longs,) = by_class(root, "path", "cum-long")
    (shorts,) = by_class(root, "path", "cum-short")
    long_pts, short_pts = path_points(longs.get("d")), path_points(shorts.get("d"))
    price_x = x_of(root, PRICE)
    assert long_pts[0] == pytest.approx((price_x, bottom), abs=0.06)
    assert short_pts[0] == pytest.approx((price_x, bottom), abs=0.06)
    assert all(b[0] < a[0] for a, b in itertools.pairwise(long_pts))
    assert all(b[0] > a[0] for a, b in itertools.pairwise(short_pts))
    height = bottom - top
    # the axis ends at 1.05 x the larger total (6M of longs): longs end there, shorts at 5M
    assert long_pts[-1][1] == pytest.approx(bottom - height / 1.05, abs=0.1)
    assert short_pts[-1][1] == pytest.approx(bottom - height * 5 / 6 / 1.05, abs=0.1)


def test_leverage_filter_keeps_one_layer_and_recomputes_curves() -> None:
    root = parse(render_map_svg(synthetic_document(), leverages=[50], range_pct=10))
    assert set(bar_groups(root)) == {"50"}
    assert root.get("data-shown-leverages") == "50"
    assert "50x only" in by_class(root, "text", "chart-title")[0].text
    _, top, _, bottom = plot_box(root)
    (longs,) = by_class(root, "path", "cum-long")
    (shorts,) = by_class(root, "path", "cum-short")
    # 50x alone: 3M of longs and 4M of shorts; the axis ends at 1.05 x 4M
    assert path_points(longs.get("d"))[-1][1] == pytest.approx(
        bottom - (bottom - top) * 3 / 4 / 1.05, abs=0.1)
    assert path_points(shorts.get("d"))[-1][1] == pytest.approx(
        bottom - (bottom - top) / 1.05, abs=0.1)
    with pytest.raises(ValueError, match="leverage 20 is not in this map"):
        render_map_svg(synthetic_document(), leverages=[20])


def test_range_defaults_to_the_bands_with_notional() -> None:
    root = parse(render_map_svg(synthetic_document()))
    low, high = (float(v) for v in root.get("data-x-domain").split(","))
    assert 93.0 <= low <= 95.0 and 106.0 <= high <= 107.0  # 95..106 filled, symmetric margin
    wide = parse(render_map_svg(synthetic_document(), range_pct=10))
    assert wide.get("data-x-domain") == "90.0,110.0"


def test_text_is_escaped() -> None:
    svg = render_map_svg(synthetic_document(symbol='A<B>&"C"'))
    root = parse(svg)
    assert 'A<B>&"C"' in by_class(root, "text", "chart-title")[0].text
    assert root.get("data-symbol") == 'A<B>&"C"'


def test_stale_map_says_so() -> None:
    root = parse(render_map_svg(synthetic_document(),
                                freshness={"version": 3, "age_s": 125.0, "stale": True}))
    (mark,) = by_class(root, "text", "stale-mark")
    assert mark.text == "STALE \u00b7 125 s old" and mark.get("fill") == palette.STALE_COLOUR
    assert root.get("data-stale") == "true"


@pytest.mark.parametrize(("width", "height"), [(320, 200), (560, 320), (2400, 1600)])
def test_every_allowed_size_renders(width: int, height: int) -> None:
    root = parse(render_map_svg(synthetic_document(), width=width, height=height))
    left, top, right, bottom = plot_box(root)
    assert 0 < left < right < width and 0 < top < bottom < height
    assert bool(by_class(root, "g", "legend")) == (height >= 320)
    assert by_class(root, "line", "price-line") and bar_groups(root)


# --- the heatmap --------------------------------------------------------------------------


def snapshot(t_ms: int, price: float, values: list[float], low: float = 90.0) -> dict:
    return {"t_ms": t_ms, "price": price, "low": low, "width": 1.0, "values": values}


def png_size_and_pixels(data: bytes) -> tuple[int, int, np.ndarray]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat_len = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41:41 + idat_len])
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, 1 + width * 3)
    assert (rows[:, 0] == 0).all()
    return width, height, rows[:, 1:].reshape(height, width, 3)


def test_png_encoder_round_trips() -> None:
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    width, height, decoded = png_size_and_pixels(encode_rgb(pixels))
    assert (width, height) == (3, 2) and (decoded == pixels).all()


def test_sample_grid_reads_each_snapshot_at_each_price() -> None:
    hour = 3_600_000
    history = [snapshot(0, 100, [0, 5, 0]), snapshot(hour, 101, [7, 0, 0], low=91.0)]
    times = np.array([0.5 * hour, 1.5 * hour, 9 * hour])
    prices = np.array([90.5, 91.5, 92.5, 95.0])
    grid = sample_grid(history, times, prices, hour)
    assert grid[:, 0].tolist() == [0, 5, 0, 0]  # first snapshot: band 91..92 holds 5
    assert grid[:, 1].tolist() == [0, 7, 0, 0]  # second: its grid starts at 91
    assert np.isnan(grid[:, 2]).all()  # long after the last snapshot: a gap, left empty


def test_heatmap_draws_raster_price_path_and_hover_per_snapshot() -> None:
    hour = 3_600_000
    history = [snapshot(i * hour, 100 + i, [0] * 5 + [1e6 * (i + 1)] + [0] * 14)
               for i in range(6)]
    root = parse(render_heatmap_svg(history, symbol="TESTUSDT", window="7d",
                                    quote_currency="USDT", width=800, height=400,
                                    bin_width_bps=10))
    assert root.get("data-snapshots") == "6" and root.get("data-window") == "7d"
    (image,) = by_class(root, "image", "heat")
    uri = image.get("href")
    assert uri.startswith("data:image/png;base64,")
    width, height, pixels = png_size_and_pixels(base64.b64decode(uri.split(",", 1)[1]))
    assert width <= 800 and height <= 400
    colours = {tuple(p) for p in pixels.reshape(-1, 3)}
    assert tuple(palette.viridis(np.array([0.0]))[0]) in colours  # empty bands: darkest
    assert tuple(palette.viridis(np.array([1.0]))[0]) in colours  # the densest band: yellow
    (path,) = by_class(root, "path", "price-path")
    assert len(path_points(path.get("d"))) == 7  # six snapshots, held to the end
    hits = by_class(root, "rect", "hit")
    assert len(hits) == 6
    assert "Price 105" in hits[-1].find("s:title", NS).text
    low, high = (float(v) for v in root.get("data-price-domain").split(","))
    assert low < 95 and high > 105  # the band with notional (95..96) and the price path
    zoomed = parse(render_heatmap_svg(history, symbol="T", window="7d", quote_currency="USDT",
                                      range_pct=2))
    assert zoomed.get("data-price-domain") == f"{105 * 0.98!r},{105 * 1.02!r}"


def test_heatmap_keeps_the_run_after_a_replay_loop_and_handles_no_history() -> None:
    history = [snapshot(t, 100, [1.0]) for t in (5, 6, 7, 1, 2)]
    assert [s["t_ms"] for s in latest_run(history)] == [1, 2]
    root = parse(render_heatmap_svg([], symbol="X", window="1d", quote_currency="USDT"))
    assert root.get("data-snapshots") == "0"
    assert "No map history yet" in by_class(root, "text", "empty-message")[0].text


def test_scale_helpers() -> None:
    assert [compact(v) for v in (0, 950, 12_345, 200e6, 1.5e9)] == ["0", "950", "12.3k",
                                                                    "200M", "1.5B"]
    assert percent(-10) == "\u221210%" and percent(2.5) == "+2.5%" and percent(0) == "0%"
    assert nice_step(37_000, 8) == 5000
    assert ticks(81_000, 99_000, 4) == [85_000, 90_000, 95_000]


# --- a real map ---------------------------------------------------------------------------


SYMBOLS = ["BTCUSDT", "ETHUSDT"]


@pytest.fixture
async def ready(redis_client: Redis):
    """The app over a store holding three ticks of real replayed maps (and their history)."""
    config = Settings(_env_file=None, symbols=",".join(SYMBOLS), windows="1d,7d")
    store = BandStore(redis_client)
    source = ReplaySource(speed=720, symbols=SYMBOLS)
    worker = MapWorker(source, store, config)
    for _ in range(3):
        assert (await worker.tick()).failed == {}
        source.advance(3_600_000)
    app = make_app(config, with_worker=False, store=store)
    async with asgi_client(app, "http://test") as client:
        yield client, store, app


async def test_map_svg_route_draws_the_stored_map(ready) -> None:
    client, store, _ = ready
    response = await client.get("/map/BTCUSDT.svg", params={"window": "7d", "width": 1000,
                                                             "height": 520})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    stored = await store.get_map("hyperliquid", "BTCUSDT", "7d")
    assert response.headers["x-map-version"] == str(stored.version)
    root = parse(response.text)
    document = stored.document
    assert root.get("width") == "1000" and root.get("data-version") == str(stored.version)
    (line,) = by_class(root, "line", "price-line")
    assert float(line.get("data-price")) == document["price"]
    assert float(line.get("x1")) == pytest.approx(x_of(root, document["price"]), abs=0.06)
    low, high = (float(v) for v in root.get("data-x-domain").split(","))
    visible = [b for b in document["bands"] if b["price_high"] > low and b["price_low"] < high]
    cells = sum(v > 0 for b in visible for v in b["notional_by_leverage_quote"])
    assert cells > 20 and sum(len(r) for r in bar_groups(root).values()) == cells
    ranks = {int(g.get("data-rank")): g.get("data-colour")
             for g in by_class(root, "g", "cluster")}
    top = [c["rank"] for c in document["clusters"] if c["rank"] <= 10
           and c["price_high"] > low and c["price_low"] < high]
    assert top and all(ranks[r] == palette.CLUSTER_COLOURS[r - 1] for r in top)
    # the JSON route still answers next to the SVG one
    assert (await client.get("/map/BTCUSDT")).headers["content-type"] == "application/json"


@pytest.mark.parametrize(("params", "field"), [
    ({"width": 319}, "query.width"), ({"width": 2401}, "query.width"),
    ({"height": 199}, "query.height"), ({"height": 1601}, "query.height"),
    ({"leverage": 7}, "query.leverage"), ({"range_pct": 0}, "query.range_pct"),
    ({"window": "2d"}, "query.window"),
])
async def test_map_svg_rejects_bad_parameters(ready, params, field) -> None:
    client, _, _ = ready
    response = await client.get("/map/BTCUSDT.svg", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == field


async def test_map_svg_leverage_filter_and_unknown_symbol(ready) -> None:
    client, _, _ = ready
    # Hyperliquid caps ETH at 25x: the map's leverages are 10x and 25x
    response = await client.get("/map/ETHUSDT.svg", params=[("leverage", "25")])
    assert response.status_code == 200
    assert set(bar_groups(parse(response.text))) == {"25"}
    missing = await client.get("/map/DOGEUSDT.svg")
    assert missing.status_code == 404 and missing.json()["field"] == "path.symbol"


async def test_heatmap_route_draws_the_history(ready) -> None:
    client, store, app = ready
    response = await client.get("/map/BTCUSDT/heatmap.svg", params={"window": "1d"})
    assert response.status_code == 200
    root = parse(response.text)
    history = await store.history("hyperliquid", "BTCUSDT", "1d")
    assert int(root.get("data-snapshots")) == len(history) == 3
    assert by_class(root, "image", "heat") and by_class(root, "path", "price-path")
    # the same map at the same size is rendered once; a new version renders again
    again = await client.get("/map/BTCUSDT/heatmap.svg", params={"window": "1d"})
    assert again.text == response.text
    renders = app.state.ctx.renders
    assert len(renders) == 1
    await client.get("/map/BTCUSDT/heatmap.svg", params={"window": "1d", "width": 800})
    assert len(renders) == 2


async def test_a_stale_map_marks_its_heatmap_stale_too(ready) -> None:
    """The heatmap's STALE mark follows the map's staleness, not the cached drawing: one
    version drawn fresh, then with `MAX_MAP_AGE_S` below its age, then fresh again."""
    client, _, app = ready
    ctx = app.state.ctx
    relaxed = ctx.settings

    async def heatmap():
        return parse((await client.get("/map/BTCUSDT/heatmap.svg",
                                       params={"window": "1d"})).text)

    fresh = await heatmap()
    ctx.settings = relaxed.model_copy(update={"max_map_age_s": 1e-6})
    stale = await heatmap()
    ctx.settings = relaxed
    again = await heatmap()
    assert fresh.get("data-stale") == "false" and not by_class(fresh, "text", "stale-mark")
    assert stale.get("data-stale") == "true"
    (mark,) = by_class(stale, "text", "stale-mark")
    assert mark.text == "STALE" and mark.get("fill") == palette.STALE_COLOUR
    assert again.get("data-stale") == "false" and not by_class(again, "text", "stale-mark")


async def test_no_map_yet_is_503(redis_client: Redis) -> None:
    app = make_app(Settings(_env_file=None, symbols="BTCUSDT"), with_worker=False,
                   store=BandStore(redis_client))
    async with asgi_client(app) as c:
        for path in ("/map/BTCUSDT.svg", "/map/BTCUSDT/heatmap.svg"):
            response = await c.get(path)
            assert response.status_code == 503 and response.json()["reason"] == "map_missing"


async def test_page_and_its_data(ready) -> None:
    client, _, _ = ready
    page = await client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/ui/app.js">' in page.text and 'id="map"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    script = await client.get("/ui/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in script.text and "/stream/maps" in script.text
    assert (await client.get("/ui/app.css")).headers["content-type"].startswith("text/css")
    config = (await client.get("/ui/config.json")).json()
    venue = {"BTC-PERP": "ftx"}  # the bundled replay's one venue per recording
    exchanges = {s: [venue.get(s, "hyperliquid")] for s in SYMBOLS}
    assert config == {"symbols": SYMBOLS, "exchanges": exchanges, "windows": ["1d", "7d"],
                      "default_window": "7d",
                      "leverages": [10.0, 25.0, 50.0, 100.0], "max_map_age_s": 30.0,
                      "refresh_interval_s": 5.0}


# --- realised liquidations ----------------------------------------------------------------


def realised(long_quote: dict[int, float], short_quote: dict[int, float], **options
             ) -> RealisedPanel:
    longs, shorts = np.zeros(20), np.zeros(20)
    for i, v in long_quote.items():
        longs[i] = v
    for i, v in short_quote.items():
        shorts[i] = v
    return RealisedPanel(24, longs, shorts, (longs > 0).astype(int), (shorts > 0).astype(int),
                         **options)


def test_realised_panel_sits_under_the_map_on_the_same_price_axis() -> None:
    panel = realised({5: 2e5, 8: 1e5}, {12: 4e5, 8: 5e4},
                     sampling_note="Binance sends at most one ...", outside_quote=7e4)
    root = parse(render_map_svg(synthetic_document(), width=900, height=560, range_pct=10,
                                realised=panel))
    _, _, _, plot_bottom = plot_box(root)
    (group,) = by_class(root, "g", "realised")
    assert float(group.get("data-long-quote")) == 3e5
    assert float(group.get("data-short-quote")) == 4.5e5
    assert group.get("data-hours") == "24" and group.get("data-sampled") == "true"
    bars = by_class(group, "rect", "realised-bar")
    assert {(b.get("data-side"), float(b.get("data-price-low"))) for b in bars} == {
        ("long", 95.0), ("long", 98.0), ("short", 102.0), ("short", 98.0)}
    for bar in bars:
        band_low = float(bar.get("data-price-low"))
        assert float(bar.get("x")) == pytest.approx(x_of(root, band_low), abs=0.1)
        assert float(bar.get("y")) > plot_bottom, "below the map, not over its bars"
    heights = {(b.get("data-side"), float(b.get("data-price-low"))): float(b.get("height"))
               for b in bars}
    assert heights[("short", 102.0)] == pytest.approx(2 * heights[("long", 95.0)], rel=0.02)
    band98 = sorted((b for b in bars if float(b.get("data-price-low")) == 98.0),
                    key=lambda b: float(b.get("y")))
    assert [b.get("data-side") for b in band98] == ["short", "long"], "shorts on top"
    label = "".join(by_class(group, "text", "realised-label")[0].itertext())
    assert "last 24 h" in label and "lower bounds" in label and "outside the range" in label
    tips = [h.find("s:title", NS).text for h in by_class(group, "rect", "hit")]
    assert any("Predicted by the map here: 2M" in t for t in tips)


def test_without_a_source_the_map_says_so_in_one_line() -> None:
    plain = parse(render_map_svg(synthetic_document(), width=900, height=500))
    root = parse(render_map_svg(synthetic_document(), width=900, height=500,
                                realised=RealisedPanel.without_source("replay mode has none")))
    (group,) = by_class(root, "g", "realised-unavailable")
    assert "".join(group.itertext()) == "Realised liquidations: replay mode has none"
    assert not by_class(root, "rect", "realised-bar")
    assert plot_box(root)[3] < plot_box(plain)[3], "a line is made room for under the map"
    assert not by_class(plain, "g", "realised")


def liquidation(time_ms: int, price: float, side: str, notional: float) -> LiquidationEvent:
    return LiquidationEvent(time_ms, "binanceusdm", "TESTUSDT", side, price, notional / price,
                            notional, event_id("binanceusdm", "TESTUSDT", time_ms, side, price,
                                               notional / price))


def test_heatmap_marks_realised_liquidations_at_their_time_and_price() -> None:
    hour = 3_600_000
    history = [snapshot(i * hour, 100 + i, [0] * 5 + [1e6] + [0] * 14) for i in range(6)]
    events = [liquidation(int(1.5 * hour), 96.5, "long", 4e4),
              liquidation(int(4.2 * hour), 104.0, "short", 1e4),
              liquidation(int(-2 * hour), 99.0, "long", 1e4)]  # before the first snapshot
    root = parse(render_heatmap_svg(history, symbol="TESTUSDT", window="7d",
                                    quote_currency="USDT", width=800, height=400,
                                    liquidations=events, liquidations_note="a sample"))
    (group,) = by_class(root, "g", "liquidation-marks")
    marks = by_class(group, "circle", "liquidation-mark")
    assert group.get("data-count") == "2" and len(marks) == 2
    first, second = marks
    assert (first.get("data-side"), second.get("data-side")) == ("long", "short")
    assert first.get("fill") == palette.REALISED_LONG_COLOUR
    assert second.get("fill") == palette.REALISED_SHORT_COLOUR
    low, high = (float(v) for v in root.get("data-price-domain").split(","))
    assert float(first.get("cy")) > float(second.get("cy")), "96.5 lies below 104"
    assert float(first.get("cx")) < float(second.get("cx")), "earlier lies left"
    assert float(first.get("r")) / float(second.get("r")) == pytest.approx(
        (2 + 6) / (2 + 6 * 0.5), rel=0.01), "area grows with the notional"
    assert low < 96.5 < high
    note = "".join(by_class(root, "text", "realised-note")[0].itertext())
    assert "Dots = realised liquidations" in note and "a sample" in note
    none = parse(render_heatmap_svg(history, symbol="T", window="7d", quote_currency="USDT",
                                    liquidations_note="realised liquidations: replay mode"))
    assert not by_class(none, "g", "liquidation-marks")
    assert "replay mode" in "".join(by_class(none, "text", "realised-note")[0].itertext())
