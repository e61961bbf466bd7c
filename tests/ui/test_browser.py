"""End to end: the `/ui` page in Debian's headless Chromium, driven over the Chrome DevTools
Protocol (a small client over `websockets`; no browser download, no driver binary).

The app runs on a real port with the replay worker ticking every second over redis-server:
the chart draws, hovering shows a tooltip, switching the window redraws it, stream updates
redraw it without a reload, and with the worker gone the page turns STALE by itself.
Screenshots go to the test's temporary folder (`ui-*.png`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import random
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from websockets.sync.client import connect

from execsvc.charts.palette import CLUSTER_COLOURS
from execsvc.maps.worker import MapWorker
from execsvc.market.liquidation_feed import Backoff
from execsvc.market.replay import ReplaySource
from execsvc.runtime import ccxt_source, make_app, make_liquidation_ingest, make_worker
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.api.test_stream import settings
from tests.support.binance_stub import BinanceStub
from tests.support.liquidation_streams import LiquidationStreams, binance_force_order
from tests.support.live_server import LiveServer
from tests.support.venues import HOUR_MS, frozen_replay

VIEWPORT = (1360, 1700)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run",
                  "--no-default-browser-check", "--hide-scrollbars", "--mute-audio"]


class BrowserError(AssertionError):
    pass


class Chromium:
    """A headless Chromium process and one page, over the DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        self._stack = contextlib.ExitStack()
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            raise RuntimeError("chromium is not installed; .ci/run installs it (apt: chromium)")
        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}",
             f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            port = self._devtools_port(profile / "DevToolsActivePort")
            self.socket = self._stack.enter_context(
                connect(self._page_socket(port), max_size=None, open_timeout=10))
        except BaseException:
            self.close()
            raise
        self._ids = itertools.count(1)

    def _devtools_port(self, path: Path, timeout_s: float = 20) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            if path.exists() and path.read_text().strip():
                return int(path.read_text().split()[0])
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port")

    @staticmethod
    def _page_socket(port: int) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
            targets = json.load(answer)
        return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 20) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                page = self.evaluate("document.body ? document.body.innerText.slice(0, 600) : ''")
                raise BrowserError(f"timed out waiting for {expression!r}; page: {page!r}")
            time.sleep(0.1)

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def hover(self, x: float, y: float) -> None:
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)

    def screenshot(self, path: Path) -> Path:
        """The whole page (not only the viewport) as a PNG. Beyond the viewport Chromium
        re-lays the page out, which drops hover state, so only a long page is captured so."""
        metrics = self.call("Page.getLayoutMetrics")
        size, view = metrics["cssContentSize"], metrics["cssLayoutViewport"]
        options: dict[str, Any] = {"format": "png"}
        if size["height"] > view["clientHeight"] + 1:
            options["captureBeyondViewport"] = True
            options["clip"] = {"x": 0, "y": 0, "width": size["width"],
                               "height": size["height"], "scale": 1}
        shot = self.call("Page.captureScreenshot", **options)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        self._stack.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


async def seeded_store(url: str, hours: int) -> ReplaySource:
    """Fill the store with `hours` hourly map snapshots (history for the heatmap) using a
    short-lived worker with its own client, then release its symbol leases."""
    redis = Redis.from_url(url)
    config = settings(windows="1d,7d,30d")
    source = ReplaySource(speed=720, symbols=config.symbols)
    worker = MapWorker(source, BandStore(redis), config, worker_id="seeder")
    for _ in range(hours):
        report = await worker.tick()
        assert report.failed == {}, report.failed
        source.advance(3_600_000)
    await worker.leases.release_all()
    await redis.aclose()
    return source


def app_over(url: str, source: ReplaySource | None, **overrides: Any):
    config = settings(windows="1d,7d,30d", **overrides)
    store = BandStore(Redis.from_url(url))
    worker = MapWorker(source, store, config, worker_id="live") if source else None
    return make_app(config, with_worker=True, store=store, worker=worker)


def svg_state(browser: Chromium) -> dict[str, Any]:
    return browser.evaluate("""(() => {
      const svg = document.querySelector('#map svg');
      const line = svg.querySelector('line.price-line');
      const strips = Array.from(svg.querySelectorAll('g.cluster')).map((g) => ({
        rank: Number(g.dataset.rank), fill: g.querySelector('.cluster-strip').getAttribute('fill'),
        side: g.dataset.side}));
      return {
        version: Number(svg.dataset.version), window: svg.dataset.window,
        price: Number(svg.dataset.price), plot: svg.dataset.plot, domain: svg.dataset.xDomain,
        lineX: Number(line.getAttribute('x1')), linePrice: Number(line.dataset.price),
        bars: svg.querySelectorAll('g.bars rect').length, clusters: strips,
        rows: document.querySelectorAll('#clusters tbody tr').length,
        heatmapWindow: document.querySelector('#heatmap').dataset.window,
        snapshots: Number(document.querySelector('#heatmap').dataset.snapshots || 0),
        loadId: window.__loadId,
        navigations: performance.getEntriesByType('navigation').length,
      };
    })()""")


def hover_largest_band(browser: Chromium) -> str:
    """Hover the map's band with the most notional; the tooltip's text."""
    box = browser.evaluate("""(() => {
      const hits = Array.from(document.querySelectorAll('#map svg rect.hit'));
      const hit = hits.sort((a, b) => b.dataset.notional - a.dataset.notional)[0];
      const r = hit.getBoundingClientRect();
      return {x: r.left + r.width / 2, y: r.top + r.height * 0.7};
    })()""")
    browser.hover(box["x"], box["y"])
    return browser.wait_for("!document.getElementById('tooltip').hidden && "
                            "document.getElementById('tooltip').innerText")


def expected_x(state: dict[str, Any]) -> float:
    left, _, right, _ = (float(v) for v in state["plot"].split(","))
    low, high = (float(v) for v in state["domain"].split(","))
    return left + (state["price"] - low) / (high - low) * (right - left)


def test_page_draws_switches_window_and_follows_the_stream(
    browser: Chromium, redis_server, tmp_path: Path
) -> None:
    SyncRedis.from_url(redis_server.url).flushall()
    source = asyncio.run(seeded_store(redis_server.url, hours=72))
    app = app_over(redis_server.url, source, refresh_interval_s=1.0)
    with LiveServer(app) as server:
        browser.navigate(f"{server.url}/ui?symbol=BTCUSDT&window=7d")
        browser.wait_for("document.querySelectorAll('#map svg g.bars rect').length > 20 && "
                         "document.querySelector('#heatmap svg image.heat') !== null")
        first = svg_state(browser)
        assert first["window"] == "7d" and first["bars"] > 20
        assert first["linePrice"] == first["price"]
        assert first["lineX"] == pytest.approx(expected_x(first), abs=0.1)
        by_rank = {c["rank"]: c for c in first["clusters"]}
        assert by_rank[1]["fill"] == CLUSTER_COLOURS[0] and by_rank[2]["fill"] == CLUSTER_COLOURS[1]
        assert first["rows"] == min(10, len(first["clusters"]))
        assert first["snapshots"] >= 70 and first["heatmapWindow"] == "7d"
        assert browser.evaluate("document.getElementById('live').textContent") == "live"
        assert browser.evaluate("document.getElementById('stale').hidden") is True
        # the model's version and its out-of-sample scores, in one line
        browser.wait_for("document.getElementById('model-line').textContent.length > 0")
        model_line = browser.evaluate("document.getElementById('model-line').textContent")
        assert model_line.startswith("Model 2.") and "leave-one-week-out" in model_line
        assert "naive" in model_line
        # replay has no liquidation stream: the page says so instead of showing nothing
        browser.wait_for("document.getElementById('online-score').dataset.available")
        assert "replay mode" in browser.evaluate(
            "document.getElementById('online-score').textContent")
        assert browser.evaluate("document.querySelector('#map svg g.realised-unavailable')"
                                ".textContent").startswith("Realised liquidations: replay")

        # hovering a bar shows its range, notional, intensity and distance
        tip = hover_largest_band(browser)
        assert "USDC" in tip and "Intensity" in tip  # the replayed venues quote USDC
        assert "% below the price" in tip or "% above the price" in tip
        browser.screenshot(tmp_path / "ui-btcusdt-7d.png")
        browser.hover(5, 5)

        # one box per leverage of the map shown (the venue caps them: not the settings' mix);
        # switching one off redraws the map without that layer
        boxes = """Array.from(document.querySelectorAll('#leverages input'))
          .map((b) => [Number(b.value), b.checked])"""
        levels = browser.evaluate("document.querySelector('#map svg').dataset.leverages")
        assert levels != ",".join(f"{lev:g}" for lev in sorted(settings().leverage_mix))
        browser.wait_for(f"{boxes}.map((b) => b[0]).join() === '{levels}'")
        assert all(on for _, on in browser.evaluate(boxes))
        lowest = browser.evaluate(boxes)[0][0]
        browser.evaluate("(() => { const b = document.querySelector('#leverages input'); "
                         "b.checked = false; b.dispatchEvent(new Event('change')); })()")
        shown = levels.split(",")[1:]
        browser.wait_for("document.querySelector('#map svg').dataset.shownLeverages === "
                         f"'{','.join(shown)}'")
        assert browser.evaluate("document.getElementById('map').dataset.error") is None
        assert f"leverage={lowest:g}" not in browser.evaluate("location.search")
        browser.evaluate("(() => { const b = document.querySelector('#leverages input'); "
                         "b.checked = true; b.dispatchEvent(new Event('change')); })()")
        browser.wait_for("document.querySelector('#map svg').dataset.shownLeverages === "
                         f"'{levels}'")

        # a link asking for a leverage this map lacks (100x: the venue caps BTC lower) shows
        # the chart with the leverages it has of those asked for, not a 422
        browser.navigate(f"{server.url}/ui?symbol=BTCUSDT&window=7d&leverage=100"
                         f"&leverage={lowest:g}")
        browser.wait_for("document.querySelector('#map svg') !== null && document.querySelector"
                         f"('#map svg').dataset.shownLeverages === '{lowest:g}'")
        assert browser.evaluate("document.getElementById('map').dataset.error") is None
        assert browser.evaluate(boxes) == [[lev, lev == lowest]
                                           for lev in map(float, levels.split(","))]
        assert browser.evaluate("location.search").endswith(f"leverage={lowest:g}")
        browser.navigate(f"{server.url}/ui?symbol=BTCUSDT&window=7d")
        browser.wait_for("document.querySelectorAll('#map svg g.bars rect').length > 20")
        first = svg_state(browser)

        # switching the window redraws the chart in place
        browser.evaluate("(() => { const s = document.getElementById('window'); s.value = '1d';"
                         " s.dispatchEvent(new Event('change')); })()")
        browser.wait_for("document.querySelector('#map svg').dataset.window === '1d' && "
                         "document.querySelector('#heatmap').dataset.window === '1d'")
        switched = svg_state(browser)
        assert switched["bars"] > 0 and switched["loadId"] == first["loadId"]
        assert "window=1d" in browser.evaluate("location.search")

        # the worker's next ticks arrive over /stream/maps and redraw it without a reload
        before = switched["version"]
        browser.wait_for(f"Number(document.querySelector('#map svg').dataset.version) > {before}"
                         " && Number(document.getElementById('map').dataset.streamUpdates) > 0",
                         timeout_s=15)
        updated = svg_state(browser)
        assert updated["version"] > before and updated["window"] == "1d"
        assert updated["loadId"] == first["loadId"] and updated["navigations"] == 1
        assert browser.evaluate("document.getElementById('age').textContent").startswith(
            f"v{updated['version']}")
        browser.screenshot(tmp_path / "ui-btcusdt-1d-updated.png")
        browser.navigate("about:blank")


def test_page_turns_stale_when_the_worker_stops(
    browser: Chromium, redis_server, tmp_path: Path
) -> None:
    SyncRedis.from_url(redis_server.url).flushall()
    asyncio.run(seeded_store(redis_server.url, hours=3))
    app = app_over(redis_server.url, None, max_map_age_s=3)  # no worker: nothing refreshes
    with LiveServer(app) as server:
        browser.navigate(f"{server.url}/ui?symbol=ETHUSDT&window=1d")
        browser.wait_for("document.querySelectorAll('#map svg g.bars rect').length > 0")
        load_id = browser.evaluate("window.__loadId")
        browser.wait_for("!document.getElementById('stale').hidden", timeout_s=10)
        assert browser.evaluate("window.__loadId") == load_id  # it turned stale by itself
        banner = browser.evaluate("document.getElementById('stale').textContent")
        assert banner.startswith("STALE") and "worker" in banner
        assert browser.evaluate("document.body.dataset.stale") == "true"
        assert browser.evaluate("document.getElementById('live').textContent") == (
            "connected, no updates")
        assert "updated" in browser.evaluate("document.getElementById('age').textContent")
        browser.screenshot(tmp_path / "ui-ethusdt-stale.png")
        browser.navigate("about:blank")


def ingest_state(url: str) -> dict[str, Any]:
    """Who holds the venue's ingest lease and what the ingest last reported (for a failure
    message that says why it did not subscribe)."""
    redis = SyncRedis.from_url(url)
    return {"lease": redis.get("execsvc:lease:liquidations:binanceusdm"),
            "status": redis.hgetall("execsvc:liqfeed:binanceusdm")}


def test_page_draws_realised_liquidations_from_a_live_stream(
    browser: Chromium, redis_server, binance_stub: BinanceStub, streams: LiquidationStreams,
    tmp_path: Path
) -> None:
    """`execsvc serve` on a live source: ccxt against the local Binance REST and liquidation
    stream servers. Liquidations sent on the stream are drawn per band under the map and as
    marks at their time and price on the heatmap, and the online score line states them."""
    SyncRedis.from_url(redis_server.url).flushall()
    config = Settings(_env_file=None, source="ccxt", symbols="BTCUSDT", windows="7d",
                      ccxt_timeframe="5m", refresh_interval_s=2.0, liquidation_heartbeat_s=0.2)
    store = BandStore(Redis.from_url(redis_server.url))
    worker = make_worker(config, store,
                         source=ccxt_source(config, base_url=binance_stub.base_url))
    # a start-up fault of the stream (a connection refused or timed out on a loaded machine)
    # is retried within 0.5 s, as in the API's twin test, not after the production backoff,
    # which doubles up to 30 s: a few faults in a row would outlast any wait below
    ingest = make_liquidation_ingest(
        config, store, rest_origin=binance_stub.base_url,
        urls_override={"ws": {"linear": streams.binance_ws_url}},
        backoff=Backoff(0.05, 0.5, rng=random.Random(5)))
    app = make_app(config, with_worker=True, store=store, worker=worker, ingest=ingest)
    with LiveServer(app) as server:
        browser.navigate(f"{server.url}/ui?symbol=BTCUSDT&window=7d")
        browser.wait_for("document.querySelectorAll('#map svg g.bars rect').length > 20")
        deadline = time.monotonic() + 90  # a guard against a hang, not a speed target
        while not streams.subscribed("binance", "BTCUSDT"):
            assert time.monotonic() < deadline, (
                f"the ingest never subscribed: {ingest_state(redis_server.url)}")
            time.sleep(0.05)
        price = float(browser.evaluate("document.querySelector('#map svg').dataset.price"))
        now = int(time.time() * 1000)
        orders = [("SELL", 0.995, 0.4), ("SELL", 0.99, 1.5), ("BUY", 1.006, 0.8),
                  ("BUY", 1.012, 0.3)]
        sent = []
        for k, (side, factor, quantity) in enumerate(orders):
            event_price = round(price * factor, 1)
            sent.append((event_price, side))
            streams.publish("binance", "BTCUSDT", binance_force_order(
                "BTCUSDT", side, event_price, quantity, now + 200 + k * 1000))
        # the page redraws on the next map update and shows what the stream delivered
        browser.wait_for("document.querySelectorAll('#heatmap svg circle.liquidation-mark')"
                         ".length === 4 && document.querySelectorAll('#map svg "
                         "rect.realised-bar').length > 0 && document.getElementById("
                         "'online-score').dataset.events === '4'", timeout_s=30)
        drawn = browser.evaluate("""(() => {
          const svg = document.querySelector('#map svg');
          const panel = svg.querySelector('g.realised');
          const bars = Array.from(panel.querySelectorAll('rect.realised-bar')).map((r) => ({
            side: r.dataset.side, low: Number(r.dataset.priceLow),
            notional: Number(r.dataset.notional), y: Number(r.getAttribute('y')),
            h: Number(r.getAttribute('height'))}));
          const marks = Array.from(document.querySelectorAll(
            '#heatmap svg circle.liquidation-mark')).map((c) => ({
              side: c.dataset.side, price: Number(c.dataset.price),
              cy: Number(c.getAttribute('cy')), r: Number(c.getAttribute('r'))}));
          return {bars, marks, longs: Number(panel.dataset.longQuote),
                  shorts: Number(panel.dataset.shortQuote), sampled: panel.dataset.sampled,
                  label: panel.querySelector('.realised-label').textContent,
                  line: document.getElementById('online-score').textContent};
        })()""")
        browser.screenshot(tmp_path / "ui-btcusdt-live-liquidations.png")
        browser.navigate("about:blank")
    expected_longs = sum(p * q for (p, s), (_, _, q) in zip(sent, orders, strict=True)
                         if s == "SELL")
    expected_shorts = sum(p * q for (p, s), (_, _, q) in zip(sent, orders, strict=True)
                          if s == "BUY")
    half_display_step = 0.05 + 1e-6  # the panel states totals to 0.1 quote
    assert drawn["longs"] == pytest.approx(expected_longs, abs=half_display_step)
    assert drawn["shorts"] == pytest.approx(expected_shorts, abs=half_display_step)
    assert {b["side"] for b in drawn["bars"]} == {"long", "short"}
    assert all(b["h"] > 0 for b in drawn["bars"])
    assert drawn["sampled"] == "true" and "lower bounds" in drawn["label"]
    marks = sorted(drawn["marks"], key=lambda m: m["price"])
    assert [(m["price"], m["side"]) for m in marks] == sorted(
        (p, "long" if s == "SELL" else "short") for p, s in sent)
    assert all(a["cy"] > b["cy"] for a, b in itertools.pairwise(marks)), "higher price, higher"
    largest = max(drawn["marks"], key=lambda m: m["r"])
    assert largest["price"] == sent[1][0], "the largest notional has the largest mark"
    assert "4 BTCUSDT liquidations" in drawn["line"] and "a sample" in drawn["line"]


def test_venue_selector_and_bars_by_venue(
    browser: Chromium, redis_server, tmp_path: Path
) -> None:
    """BTCUSDT on two venues: the page shows their sum by default, stacks its bars by venue on
    request (each venue's share, named in the tooltip), and switches to one venue's map."""
    SyncRedis.from_url(redis_server.url).flushall()
    config = settings(windows="1d,7d", refresh_interval_s=1.0)
    store = BandStore(Redis.from_url(redis_server.url))
    sources = {"binanceusdm": frozen_replay(config.symbols),
               "bybit": frozen_replay(["BTCUSDT"], HOUR_MS)}
    worker = MapWorker(sources, store, config, worker_id="venues")
    app = make_app(config, with_worker=True, store=store, worker=worker)
    with LiveServer(app) as server:
        browser.navigate(f"{server.url}/ui?symbol=BTCUSDT&window=7d")
        browser.wait_for("document.querySelectorAll('#map svg g.bars rect').length > 20")
        options = browser.evaluate(
            "Array.from(document.getElementById('exchange').options).map((o) => o.value)")
        assert options == ["all", "binanceusdm", "bybit"]
        assert browser.evaluate("document.querySelector('#map svg').dataset.exchange") == "all"
        assert browser.evaluate("document.querySelector('#map svg').dataset.venues") == (
            "binanceusdm,bybit")

        browser.evaluate("(() => { const s = document.getElementById('stack'); "
                         "s.value = 'venue'; s.dispatchEvent(new Event('change')); })()")
        browser.wait_for("document.querySelector('#map svg').dataset.stack === 'venue'")
        layers = browser.evaluate("""Array.from(document.querySelectorAll('#map svg g.bars'))
          .map((g) => [g.dataset.venue, g.querySelectorAll('rect').length])""")
        assert [name for name, _ in layers] == ["binanceusdm", "bybit"]
        assert all(count > 0 for _, count in layers), "both venues have bars"
        assert browser.evaluate("document.getElementById('leverages').disabled") is True
        assert "Bars by venue:" in browser.evaluate(
            "document.querySelector('#map svg').textContent")
        assert "stack=venue" in browser.evaluate("location.search")
        tip = hover_largest_band(browser)
        assert "By venue: binanceusdm" in tip and "bybit" in tip
        browser.screenshot(tmp_path / "ui-btcusdt-by-venue.png")
        browser.hover(5, 5)

        browser.evaluate("(() => { const s = document.getElementById('exchange'); "
                         "s.value = 'bybit'; s.dispatchEvent(new Event('change')); })()")
        browser.wait_for("document.querySelector('#map svg').dataset.exchange === 'bybit'")
        assert browser.evaluate("""Array.from(document.querySelectorAll('#map svg g.bars'))
          .map((g) => g.dataset.venue)""") == ["bybit"]
        assert "exchange=bybit" in browser.evaluate("location.search")
        assert "exchange=bybit" in browser.evaluate(
            "document.getElementById('json-link').getAttribute('href')")
        browser.evaluate("(() => { const s = document.getElementById('symbol'); "
                         "s.value = 'ETHUSDT'; s.dispatchEvent(new Event('change')); })()")
        browser.wait_for("document.querySelector('#map svg').dataset.symbol === 'ETHUSDT'")
        assert browser.evaluate(
            "Array.from(document.getElementById('exchange').options).map((o) => o.value)"
        ) == ["binanceusdm"]
        browser.navigate("about:blank")
