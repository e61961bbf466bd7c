"""The bundled replay datasets and `ReplaySource`: data sanity, clock, looping, no look-ahead."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.brackets import BINANCE_USDM_BRACKETS
from execsvc.liqmap.venue_rules import hyperliquid_brackets, venue_brackets
from execsvc.market.replay import (
    DATA_DIR,
    MANIFEST,
    WARMUP_MS,
    ReplayClock,
    ReplaySource,
    manifest_entry,
    read_manifest,
    replay_venues,
)
from execsvc.market.types import MarketSource, MarketSourceError
from tests.support import REPO

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BTC-PERP")
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SHARED_DATA = Path("/work/shared/data")


class FakeClock:
    """A settable clock in seconds."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def shared_source() -> ReplaySource:
    """One source for read-only checks; tests that move its clock use `set_elapsed_ms`."""
    return ReplaySource(speed=720.0, clock=FakeClock())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def source(clock: FakeClock) -> ReplaySource:
    return ReplaySource(speed=720.0, clock=clock)


def test_manifest_describes_every_bundled_file() -> None:
    manifest = read_manifest(DATA_DIR)
    assert list(manifest) == ["hyperliquid/BTCUSDT", "hyperliquid/ETHUSDT", "lighter/BTCUSDT",
                              "lighter/ETHUSDT", "ftx/BTC-PERP"]
    assert replay_venues() == {"hyperliquid": ["BTCUSDT", "ETHUSDT"],
                               "lighter": ["BTCUSDT", "ETHUSDT"], "ftx": ["BTC-PERP"]}
    for venue in ("hyperliquid", "lighter"):
        entry = manifest[f"{venue}/BTCUSDT"]
        assert entry["exchange"] == entry["open_interest_venue"] == venue
        assert entry["quote_currency"] == "USDC"
    assert manifest["hyperliquid/BTCUSDT"]["own_candles"] == 0  # all Binance, the proxy
    assert manifest["lighter/BTCUSDT"]["own_candles"] > 0
    assert manifest["ftx/BTC-PERP"]["exchange"] == "ftx"
    assert manifest["ftx/BTC-PERP"]["quote_currency"] == "USD"
    assert manifest["ftx/BTC-PERP"]["open_interest_venue"] is None
    for entry in manifest.values():
        assert (DATA_DIR / entry["file"]).is_file()
        assert entry["sources"] and all(s["license"] and s["sha256"] for s in entry["sources"])
    total = sum((DATA_DIR / entry["file"]).stat().st_size for entry in manifest.values())
    assert total < 3_000_000


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_bundled_candles_are_sane(shared_source: ReplaySource, symbol: str) -> None:
    dataset = shared_source.dataset(symbol)
    c = dataset.candles
    entry = manifest_entry(DATA_DIR, symbol)
    assert len(c) == entry["candles"]
    assert c.interval_ms == entry["interval_ms"]
    assert c.open_time_ms.dtype == np.int64
    assert np.all(np.diff(c.open_time_ms) == c.interval_ms)  # no gaps, no duplicates
    for name in ("open", "high", "low", "close", "volume"):
        values = getattr(c, name)
        assert values.dtype == np.float64 and values.shape == (len(c),)
        assert np.isfinite(values).all()
    assert np.all(c.high >= np.maximum(c.open, c.close))
    assert np.all(c.low <= np.minimum(c.open, c.close))
    assert np.all(c.low > 0) and np.all(c.volume >= 0)
    assert np.isnan(c.taker_buy_volume).all()  # no source has the taker split
    assert int(c.open_time_ms[0]) == entry["start_ms"]
    assert int(c.open_time_ms[-1]) + c.interval_ms == entry["end_ms"]
    assert entry["end_ms"] - entry["start_ms"] > WARMUP_MS


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_bundled_open_interest_is_sane(shared_source: ReplaySource, symbol: str) -> None:
    dataset = shared_source.dataset(symbol)
    oi = dataset.open_interest
    assert oi is not None and len(oi) == manifest_entry(DATA_DIR, symbol)["open_interest_samples"]
    assert np.all(np.diff(oi.time_ms) > 0)
    assert np.all(np.diff(oi.time_ms) % HOUR_MS == 0)
    assert np.all(np.isfinite(oi.oi_quote)) and np.all(oi.oi_quote > 1e8)  # USD notional
    start, end = dataset.start_ms, int(dataset.candles.open_time_ms[-1]) + HOUR_MS
    assert start <= oi.time_ms[0] and oi.time_ms[-1] <= end


def test_bundled_prices_are_plausible(shared_source: ReplaySource) -> None:
    btc = shared_source.dataset("BTCUSDT").candles.close
    eth = shared_source.dataset("ETHUSDT").candles.close
    ftx = shared_source.dataset("BTC-PERP").candles
    assert btc.min() > 50_000 and btc.max() < 150_000
    assert eth.min() > 1_000 and eth.max() < 6_000
    assert ftx.close.min() > 30_000 and ftx.close.max() < 50_000
    assert 0 < np.median(ftx.volume) < 1_000  # BTC, not USD


def test_implements_protocol_and_symbols(source: ReplaySource) -> None:
    assert isinstance(source, MarketSource)
    info = {s.symbol: s for s in source.symbols()}
    assert set(info) == set(SYMBOLS)
    assert info["BTCUSDT"].has_open_interest and info["ETHUSDT"].has_open_interest
    assert not info["BTC-PERP"].has_open_interest
    assert info["BTC-PERP"].exchange == "ftx" and info["BTC-PERP"].quote_currency == "USD"
    assert info["ETHUSDT"].exchange == "hyperliquid" and info["ETHUSDT"].quote_currency == "USDC"


def test_symbol_selection_and_unknown_symbols(clock: FakeClock) -> None:
    only = ReplaySource(speed=1.0, symbols=["btcusdt"], clock=clock)
    assert [s.symbol for s in only.symbols()] == ["BTCUSDT"]
    with pytest.raises(MarketSourceError, match="ETHUSDT"):
        only.dataset("ETHUSDT")
    with pytest.raises(MarketSourceError) as excinfo:
        ReplaySource(speed=1.0, symbols=["BTCUSDT", "DOGEUSDT"], clock=clock)
    message = str(excinfo.value)
    assert "DOGEUSDT" in message and all(s in message for s in SYMBOLS)


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_speed_is_refused(speed: float) -> None:
    with pytest.raises(ValueError):
        ReplaySource(speed=speed)


def test_missing_data_dir_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(MarketSourceError, match=MANIFEST):
        ReplaySource(speed=1.0, data_dir=tmp_path)


@pytest.mark.parametrize(
    "method, args",
    [
        ("candles", (0,)),
        ("open_interest", (0,)),
        ("leverage_brackets", ()),
        ("mark_price", ()),
        ("now_ms", ()),
    ],
)
async def test_unknown_symbol_in_every_method(
    source: ReplaySource, method: str, args: tuple[int, ...]
) -> None:
    with pytest.raises(MarketSourceError, match="XRPUSDT"):
        await getattr(source, method)("XRPUSDT", *args)


@pytest.mark.parametrize("symbol", SYMBOLS)
async def test_start_position_has_a_full_30_day_window(source: ReplaySource, symbol: str) -> None:
    dataset = source.dataset(symbol)
    now = await source.now_ms(symbol)
    assert now == dataset.start_ms + WARMUP_MS
    candles = await source.candles(symbol, now - WARMUP_MS)
    assert len(candles) == WARMUP_MS // dataset.candles.interval_ms
    assert int(candles.open_time_ms[-1]) + candles.interval_ms == now


async def test_clock_advances_at_speed_for_all_symbols(
    source: ReplaySource, clock: FakeClock
) -> None:
    before = {s: await source.now_ms(s) for s in SYMBOLS}
    count = len(await source.candles("BTCUSDT", 0))
    clock.t += 5.0  # 5 s wall at speed 720 = one hour of replay
    after = {s: await source.now_ms(s) for s in SYMBOLS}
    assert all(after[s] - before[s] == HOUR_MS for s in SYMBOLS)
    assert len(await source.candles("BTCUSDT", 0)) == count + 1
    assert len(await source.candles("BTC-PERP", 0)) == WARMUP_MS // 60_000 + 60


async def test_advance_and_set_elapsed(source: ReplaySource, clock: FakeClock) -> None:
    start = await source.now_ms("ETHUSDT")
    source.advance(2 * HOUR_MS)
    assert await source.now_ms("ETHUSDT") == start + 2 * HOUR_MS
    source.set_elapsed_ms(5 * HOUR_MS)
    assert source.elapsed_ms() == 5 * HOUR_MS
    clock.t += 1.0
    assert source.elapsed_ms() == 5 * HOUR_MS + 720_000


@pytest.mark.parametrize("symbol", SYMBOLS)
async def test_replay_loops_and_shows_the_last_candle(source: ReplaySource, symbol: str) -> None:
    dataset = source.dataset(symbol)
    interval = dataset.candles.interval_ms
    last_close = int(dataset.candles.open_time_ms[-1]) + interval
    source.set_elapsed_ms(dataset.cycle_ms - 1)
    assert await source.now_ms(symbol) == last_close + interval - 1
    assert len(await source.candles(symbol, 0)) == len(dataset.candles)
    source.set_elapsed_ms(dataset.cycle_ms)
    assert await source.now_ms(symbol) == dataset.start_ms + dataset.warmup_ms
    source.set_elapsed_ms(3 * dataset.cycle_ms + 7 * interval)
    assert await source.now_ms(symbol) == dataset.start_ms + dataset.warmup_ms + 7 * interval


async def test_mark_price_is_last_closed_close(source: ReplaySource) -> None:
    source.set_elapsed_ms(10 * HOUR_MS + 1_234)
    for symbol in SYMBOLS:
        candles = await source.candles(symbol, 0)
        assert await source.mark_price(symbol) == candles.close[-1]


async def test_since_filter(source: ReplaySource) -> None:
    now = await source.now_ms("BTCUSDT")
    since = now - 24 * HOUR_MS + 1  # excludes the candle that opened exactly 24 h ago
    day = await source.candles("BTCUSDT", since)
    assert len(day) == 23 and day.open_time_ms[0] >= since
    oi = await source.open_interest("BTCUSDT", since)
    assert oi is not None and len(oi) > 0 and oi.time_ms[0] >= since
    assert len(await source.candles("BTCUSDT", now + 1)) == 0
    empty = await source.open_interest("BTCUSDT", now + 1)
    assert empty is not None and len(empty) == 0


async def test_ftx_has_no_open_interest(source: ReplaySource) -> None:
    assert await source.open_interest("BTC-PERP", 0) is None


async def test_brackets(source: ReplaySource, clock: FakeClock) -> None:
    assert await source.leverage_brackets("ETHUSDT") == hyperliquid_brackets("ETH")
    assert await source.leverage_brackets("BTC-PERP") == BINANCE_USDM_BRACKETS["BTCUSDT"]
    lighter = ReplaySource(speed=720.0, clock=clock, venue="lighter")
    assert await lighter.leverage_brackets("BTCUSDT") == venue_brackets("lighter", "BTC")


async def test_returned_arrays_are_read_only(source: ReplaySource) -> None:
    candles = await source.candles("BTCUSDT", 0)
    with pytest.raises(ValueError):
        candles.close[0] = 1.0


@settings(max_examples=200, deadline=None)
@given(elapsed=st.integers(min_value=-(10**13), max_value=10**13), symbol=st.sampled_from(SYMBOLS))
def test_any_elapsed_time_stays_in_range_without_look_ahead(
    shared_source: ReplaySource, elapsed: int, symbol: str
) -> None:
    shared_source.set_elapsed_ms(elapsed)
    dataset = shared_source.dataset(symbol)
    now = asyncio.run(shared_source.now_ms(symbol))
    assert dataset.start_ms + dataset.warmup_ms <= now < dataset.start_ms + dataset.span_ms
    candles = asyncio.run(shared_source.candles(symbol, now - 7 * DAY_MS))
    assert len(candles) > 0
    assert np.all(candles.open_time_ms + candles.interval_ms <= now)  # all closed
    assert int(candles.open_time_ms[-1]) + 2 * candles.interval_ms > now  # and none held back
    assert candles.open_time_ms[0] >= now - 7 * DAY_MS
    oi = asyncio.run(shared_source.open_interest(symbol, now - 7 * DAY_MS))
    if oi is not None:
        assert len(oi) > 0 and np.all(oi.time_ms <= now)
        assert np.all(oi.time_ms >= now - 7 * DAY_MS)


@pytest.mark.skipif(
    importlib.util.find_spec("pandas") is None or not SHARED_DATA.is_dir(),
    reason="needs pandas/pyarrow and the shared raw data",
)
def test_build_script_reproduces_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location(
        "build_replay_data", REPO / "scripts" / "build_replay_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    module.main(["--source", str(SHARED_DATA), "--out", str(tmp_path)])
    names = [entry["file"] for entry in read_manifest(DATA_DIR).values()]
    for name in [*names, MANIFEST]:
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name
    assert json.loads((tmp_path / MANIFEST).read_text())["format"] == 2


async def test_books_sit_on_the_bundled_tick_and_lot(source: ReplaySource) -> None:
    for symbol, (tick, lot) in {"BTCUSDT": (0.1, 0.001), "ETHUSDT": (0.01, 0.001),
                                "BTC-PERP": (1.0, 0.0001)}.items():
        precision = await source.precision(symbol)
        assert (precision.tick_size, precision.lot_size) == (tick, lot)
        assert precision.source.startswith("bundled:")
        book = await source.order_book(symbol, 200)
        assert book.precision == precision
        for side in (book.bids, book.asks):
            assert all(precision.on_price_grid(p) and precision.on_lot_grid(q) for p, q in side)
            assert (side[:, 1] > 0).all()
        closes = source.dataset(symbol).candles.close
        on_grid = np.mean([precision.on_price_grid(p) for p in closes])
        assert on_grid == 1.0 if symbol != "BTC-PERP" else on_grid > 0.999


# ---- replay venues (issue 14) ---------------------------------------------------------------


async def test_venues_on_one_clock_describe_the_same_moment(clock: FakeClock) -> None:
    shared = ReplayClock(720.0, clock)
    venues = {v: ReplaySource(720.0, ["BTCUSDT", "ETHUSDT"], venue=v, replay_clock=shared)
              for v in ("hyperliquid", "lighter")}
    for elapsed in (0, 17 * HOUR_MS + 5, 40 * DAY_MS):
        shared.set_elapsed_ms(elapsed)
        moments = {await s.now_ms(k) for s in venues.values() for k in ("BTCUSDT", "ETHUSDT")}
        assert len(moments) == 1
    clock.t += 5.0
    assert len({await s.now_ms("BTCUSDT") for s in venues.values()}) == 1
    assert {i.exchange for i in venues["lighter"].symbols()} == {"lighter"}
    assert venues["lighter"].venue == "lighter"


def test_lighter_candles_are_its_own_where_recorded_and_the_binance_proxy_elsewhere() -> None:
    """The Hyperliquid dataset's candles are Binance's in every hour; Lighter's equal them
    exactly in the proxied hours the manifest lists, and differ in its own hours."""
    hyperliquid = ReplaySource(720.0, venue="hyperliquid").dataset("BTCUSDT")
    lighter = ReplaySource(720.0, venue="lighter").dataset("BTCUSDT")
    entry = manifest_entry(DATA_DIR, "BTCUSDT", "lighter")
    with np.load(DATA_DIR / entry["file"]) as arrays:
        from_proxy = arrays["from_proxy"]
    assert np.array_equal(hyperliquid.candles.open_time_ms, lighter.candles.open_time_ms)
    same = hyperliquid.candles.close == lighter.candles.close
    assert np.all(same[from_proxy])
    assert np.mean(same[~from_proxy]) < 0.05
    assert int((~from_proxy).sum()) == entry["own_candles"] > 600
    own_until = lighter.candles.open_time_ms[~from_proxy].max()
    assert own_until == 1769277600000  # 2026-01-24 18:00 UTC, Lighter's last recorded candle
    assert sum(run["candles"] for run in entry["proxy_spans"]) == entry["proxy_candles"]


def test_lighter_open_interest_is_its_own() -> None:
    hyperliquid = ReplaySource(720.0, venue="hyperliquid").dataset("BTCUSDT").open_interest
    lighter = ReplaySource(720.0, venue="lighter").dataset("BTCUSDT").open_interest
    assert hyperliquid is not None and lighter is not None
    assert len(lighter) == manifest_entry(DATA_DIR, "BTCUSDT", "lighter")["open_interest_samples"]
    assert np.median(lighter.oi_quote) < 0.5 * np.median(hyperliquid.oi_quote)


def test_unknown_replay_venue_names_the_venues() -> None:
    with pytest.raises(MarketSourceError, match="BTC-PERP"):
        ReplaySource(720.0, ["BTC-PERP"], venue="lighter")


@pytest.mark.parametrize(("venue", "leverages"), [("hyperliquid", [10.0, 25.0, 40.0]),
                                                  ("lighter", [10.0, 25.0, 50.0])])
def test_each_replayed_venue_builds_its_own_map(venue: str, leverages: list[float]) -> None:
    """Through the service's refresh path: the venue's name, its open interest and its own
    leverage cap (the mix's 50x and 100x capped at Hyperliquid's 40x / Lighter's 50x)."""
    from execsvc.maps.refresh import fetch_snapshot, map_params
    from execsvc.maps.venue_build import build_documents
    from execsvc.settings import Settings

    source = ReplaySource(720.0, ["BTCUSDT"], venue=venue, clock=FakeClock())
    source.set_elapsed_ms(20 * DAY_MS)
    snapshot = asyncio.run(fetch_snapshot(source, source.symbols()[0], 7 * DAY_MS // 1000))
    config = Settings(_env_file=None, symbols="BTCUSDT", windows="7d")
    document = build_documents(snapshot, {"7d": 7 * 86_400}, map_params(config))[0]
    assert document["exchange"] == venue and document["leverages"] == leverages
    assert document["totals"]["long_notional_quote"] > 0
    assert document["totals"]["short_notional_quote"] > 0
