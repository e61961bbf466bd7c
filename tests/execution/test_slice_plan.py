"""Calibration (`impact`) and the cluster-aware slicing planner on the recorded BTCUSDT books."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from execsvc.domain.book import OrderBook, walk_book
from execsvc.domain.units import MarketPrecision
from execsvc.execution.impact import (
    impact_from_book,
    sigma_quote_per_sqrt_s,
    volume_rate_base_per_s,
)
from execsvc.execution.slice_clusters import reach_probability
from execsvc.execution.slice_plan import SlicePlan, SlicePlanError, plan_slices, split_in_lots
from execsvc.execution.slice_request import infer_lot_size, inferred_grid
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.clusters import Cluster
from execsvc.market.replay import DATA_DIR, load_dataset, manifest_entry
from execsvc.market.replay_books import recorded_order_book, snapshot_count

SIZES = (10.0, 50.0, 200.0)
HORIZON_S = 600.0


@pytest.fixture(scope="module")
def btc_candles() -> Candles:
    return load_dataset(DATA_DIR, "BTCUSDT", manifest_entry(DATA_DIR, "BTCUSDT")).candles


@pytest.fixture(scope="module")
def calibration(btc_candles: Candles) -> tuple[float, float]:
    return sigma_quote_per_sqrt_s(btc_candles), volume_rate_base_per_s(btc_candles)


def book_indices() -> list[int]:
    count = snapshot_count()
    return [0, count // 4, count // 2, 3 * count // 4, count - 1]


def plan(book: OrderBook, side: str, quantity: float, calib: tuple[float, float],
         **kwargs: object) -> SlicePlan:
    sigma, rate = calib
    return plan_slices(book, side, quantity, kwargs.pop("horizon_s", HORIZON_S),  # type: ignore[arg-type]
                       sigma_quote_per_sqrt_s=sigma, volume_rate_base_per_s=rate,
                       base_currency="BTC", quote_currency="USDT", **kwargs)  # type: ignore[arg-type]


def assert_exact_sum(result: SlicePlan, quantity: float) -> None:
    """Every child whole lots, printed as such, and their lots sum exactly to the request's."""
    grid = result.precision
    quantities = [c.quantity for c in result.children]
    assert all(q > 0.0 and grid.on_lot_grid(q) for q in quantities)
    assert all(q == grid.quantity(q) for q in quantities)
    assert sum(grid.lots(q) for q in quantities) == grid.lots(quantity)


# ----------------------------------------------------------------------------- calibration


def linear_book() -> OrderBook:
    """Mid 100, half-spread 0.5; asks 100.5 + 0.1 i and bids 99.5 - 0.1 i, 1 unit each."""
    steps = np.arange(50, dtype=np.float64)
    asks = np.column_stack([100.5 + 0.1 * steps, np.ones(50)])
    bids = np.column_stack([99.5 - 0.1 * steps, np.ones(50)])
    return OrderBook(bids=bids, asks=asks, timestamp_ms=0, source="test")


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_impact_fit_is_least_squares_through_origin_of_the_walk_cost(side: str) -> None:
    book = linear_book()
    fit = impact_from_book(book, side, 20.0, 10.0, n_points=8)  # type: ignore[arg-type]
    assert fit.epsilon == pytest.approx(0.5)
    qs = np.arange(1, 9) * 2.5
    levels = book.asks if side == "buy" else book.bids
    y = np.array([abs(walk_book(levels, q, side, 100.0).average_price - 100.0)  # type: ignore[arg-type]
                  for q in qs]) - 0.5
    k = float(np.dot(qs, y) / np.dot(qs, qs))
    np.testing.assert_allclose(fit.quantities, qs)
    np.testing.assert_allclose(fit.excess_cost, y, atol=1e-9)
    assert fit.slope_quote_per_base2 == pytest.approx(k, rel=1e-9)
    # walking q units costs 0.1 (q - 1) / 2 beyond the half-spread: slope close to 0.05
    assert 0.04 < k < 0.05
    assert fit.eta == pytest.approx(k * 10.0, rel=1e-12)
    assert not fit.floored
    assert fit.r_squared > 0.95


def test_impact_is_floored_on_a_flat_book() -> None:
    asks = np.array([[100.5, 1000.0], [100.6, 1.0]])
    bids = np.array([[99.5, 1000.0], [99.4, 1.0]])
    fit = impact_from_book(OrderBook(bids, asks, 0, "t"), "buy", 10.0, 5.0)
    assert fit.floored
    assert fit.slope_quote_per_base2 == pytest.approx(0.1 / 1001.0)
    assert fit.eta > 0.0


def test_impact_bad_input() -> None:
    with pytest.raises(ValueError, match="max_child_quantity"):
        impact_from_book(linear_book(), "buy", math.nan, 1.0)
    with pytest.raises(ValueError, match="child_interval_s"):
        impact_from_book(linear_book(), "buy", 1.0, 0.0)
    with pytest.raises(ValueError, match="side"):
        impact_from_book(linear_book(), "hold", 1.0, 1.0)  # type: ignore[arg-type]


def synthetic_candles(closes: list[float], volumes: list[float], interval_ms: int) -> Candles:
    n = len(closes)
    arr = np.asarray(closes, dtype=np.float64)
    return Candles(
        open_time_ms=np.arange(n, dtype=np.int64) * interval_ms,
        open=arr, high=arr, low=arr, close=arr,
        volume=np.asarray(volumes, dtype=np.float64),
        taker_buy_volume=np.full(n, np.nan),
        interval_ms=interval_ms,
    )


def test_sigma_from_closes_known_answer() -> None:
    """Closes alternate by a factor e^0.01: log returns +-0.01 (n = 4, mean 0), std with
    ddof=1 = sqrt(4 * 0.0001 / 3) = 0.011547; per sqrt(s) over 60 s candles, times the last
    close 100: 0.011547 * 100 / sqrt(60) = 0.149071."""
    r = 0.01
    closes = [100.0, 100.0 * math.exp(r), 100.0, 100.0 * math.exp(r), 100.0]
    candles = synthetic_candles(closes, [1.0, 2.0, 3.0, 4.0, 100.0], 60_000)
    expected = math.sqrt(4 * r**2 / 3) * 100.0 / math.sqrt(60.0)
    assert sigma_quote_per_sqrt_s(candles, lookback_s=300.0) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(0.149071, rel=1e-5)
    # median volume 3 per 60 s candle
    assert volume_rate_base_per_s(candles, lookback_s=300.0) == pytest.approx(3.0 / 60.0)
    # a 120 s lookback keeps the last 2 candles: median(4, 100) = 52 per 60 s
    assert volume_rate_base_per_s(candles, lookback_s=120.0) == pytest.approx(52.0 / 60.0)


def test_calibration_bad_candles() -> None:
    with pytest.raises(ValueError, match="candles"):
        sigma_quote_per_sqrt_s(synthetic_candles([1.0, 2.0], [1.0, 1.0], 60_000))
    with pytest.raises(ValueError, match="close"):
        sigma_quote_per_sqrt_s(synthetic_candles([1.0, math.nan, 2.0], [1.0] * 3, 60_000))
    with pytest.raises(ValueError, match="volume"):
        volume_rate_base_per_s(synthetic_candles([1.0, 1.0], [1.0, -1.0], 60_000))
    with pytest.raises(ValueError, match="lookback_s"):
        volume_rate_base_per_s(synthetic_candles([1.0], [1.0], 60_000), lookback_s=math.inf)


def test_calibration_on_recorded_btcusdt_candles(btc_candles: Candles) -> None:
    sigma = sigma_quote_per_sqrt_s(btc_candles)
    price = float(btc_candles.close[-1])
    annual = sigma / price * math.sqrt(365 * 86_400)
    assert 0.1 < annual < 3.0  # BTC: tens of percent a year
    rate = volume_rate_base_per_s(btc_candles)
    assert 0.01 < rate < 1000.0  # BTC per second on Binance USD-M


# ----------------------------------------------------------------------------- the planner


@pytest.mark.parametrize("index", book_indices())
@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("quantity", SIZES)
def test_plan_beats_one_market_order_on_recorded_books(
    index: int, side: str, quantity: float, calibration: tuple[float, float]
) -> None:
    book = recorded_order_book(index)
    result = plan(book, side, quantity, calibration)
    assert_exact_sum(result, quantity)
    assert result.plan_slippage_bps <= result.market_slippage_bps + 1e-9
    assert result.twap_slippage_bps <= result.market_slippage_bps + 1e-9
    label = {"almgren_chriss": "Almgren-Chriss slice", "twap": "TWAP slice"}
    assert result.strategy_used in label
    assert result.lot_size == pytest.approx(0.001)
    assert all(c.order_type == "market" and c.limit_price is None for c in result.children)
    assert all(c.reason.startswith(label[result.strategy_used]) for c in result.children)
    assert result.children[0].t_offset_s == 0.0
    assert all(0.0 <= c.t_offset_s < HORIZON_S for c in result.children)
    # the one market order is the same walk as walk_book over the whole quantity
    levels = book.asks if side == "buy" else book.bids
    walk = walk_book(levels, quantity, side, book.mid)  # type: ignore[arg-type]
    assert result.market_slippage_bps == pytest.approx(walk.slippage_bps, rel=1e-9)
    assert not result.market_extrapolated


@pytest.mark.parametrize("index", book_indices())
def test_twap_beats_one_market_order_for_200_btc(
    index: int, calibration: tuple[float, float]
) -> None:
    for side in ("buy", "sell"):
        result = plan(recorded_order_book(index), side, 200.0, calibration, strategy="twap")
        assert result.twap_slippage_bps < result.market_slippage_bps
        assert result.plan_slippage_bps == pytest.approx(result.twap_slippage_bps, abs=1e-6)
        assert result.n_slices > 1


@pytest.mark.parametrize("horizon_s", [30.0, 600.0])
def test_the_resilient_book_lies_between_instant_refill_and_none(
    calibration: tuple[float, float], horizon_s: float
) -> None:
    """A book that refills at once costs each child as its own walk of the same book (the old
    estimate); one that never refills costs the children as one walk of their total; the
    calibrated rate lies between, the closer to the latter the closer the children."""
    book = recorded_order_book(0)
    refills = plan(book, "buy", 50.0, calibration, horizon_s=horizon_s,
                   resilience_rate_per_s=math.inf, strategy="twap")
    notional = sum(walk_book(book.asks, c.quantity, "buy").notional_quote
                   for c in refills.children)
    expected = (notional / 50.0 - book.mid) / book.mid * 1e4
    assert refills.plan_slippage_bps == pytest.approx(expected, rel=1e-9)
    assert refills.plan_slippage_bps_if_limits_unfilled == pytest.approx(expected, rel=1e-9)
    never = plan(book, "buy", 50.0, calibration, horizon_s=horizon_s, resilience_rate_per_s=0.0,
                 strategy="twap")
    assert never.plan_slippage_bps == pytest.approx(never.market_slippage_bps, rel=1e-9)
    calibrated = plan(book, "buy", 50.0, calibration, horizon_s=horizon_s, strategy="twap")
    assert (refills.plan_slippage_bps <= calibrated.plan_slippage_bps + 1e-12
            <= never.plan_slippage_bps + 2e-12)
    assert any("half-life 1.67 s" in note for note in calibrated.notes)


def test_risk_aversion_front_loads_the_plan(calibration: tuple[float, float]) -> None:
    book = recorded_order_book(0)
    calm = plan(book, "buy", 200.0, calibration, risk_aversion=0.0)
    urgent = plan(book, "buy", 200.0, calibration, risk_aversion=1e-4)
    sizes = [c.quantity for c in calm.children]
    assert max(sizes) - min(sizes) <= 0.0011  # TWAP within a lot
    assert urgent.children[0].quantity > calm.children[0].quantity
    assert urgent.plan_slippage_bps >= calm.plan_slippage_bps
    assert urgent.risk_aversion == 1e-4


def test_pov_respects_max_participation(calibration: tuple[float, float]) -> None:
    _, rate = calibration
    book = recorded_order_book(0)
    result = plan(book, "sell", 50.0, calibration, strategy="pov", max_participation=0.05)
    assert result.strategy_used == "pov"
    cap = 0.05 * rate * result.slice_interval_s
    assert all(c.quantity <= cap + result.lot_size for c in result.children)
    assert_exact_sum(result, 50.0)
    gaps = np.diff([c.t_offset_s for c in result.children])
    np.testing.assert_allclose(gaps, result.slice_interval_s)


def test_auto_switches_to_pov_when_the_horizon_is_too_short(
    calibration: tuple[float, float]
) -> None:
    _, rate = calibration
    book = recorded_order_book(0)
    quantity = 200.0
    horizon = 0.5 * quantity / (0.1 * rate)  # half the time 10 % participation needs
    result = plan(book, "buy", quantity, calibration, horizon_s=horizon, max_participation=0.1)
    assert result.strategy_used == "pov"
    assert any("runs past the horizon" in note for note in result.notes)
    relaxed = plan(book, "buy", quantity, calibration, horizon_s=4 * horizon,
                   max_participation=0.1)
    assert relaxed.strategy_used in ("almgren_chriss", "twap")


def band_below(book: OrderBook, low_bps: float, high_bps: float, intensity: float = 0.8,
               side: str = "long") -> Cluster:
    m = book.mid
    low, high = m * (1 - high_bps / 1e4), m * (1 - low_bps / 1e4)
    return Cluster(side, low, high, (low + high) / 2, 4e7, intensity, low_bps / 100)


def band_above(book: OrderBook, low_bps: float, high_bps: float, intensity: float = 1.0,
               side: str = "short") -> Cluster:
    m = book.mid
    low, high = m * (1 + low_bps / 1e4), m * (1 + high_bps / 1e4)
    return Cluster(side, low, high, (low + high) / 2, 6e7, intensity, low_bps / 100)


def test_buy_rests_limits_in_a_long_liquidation_band_just_below(
    calibration: tuple[float, float]
) -> None:
    book = recorded_order_book(0)
    cluster = band_below(book, 2.0, 6.0)
    result = plan(book, "buy", 50.0, calibration, clusters=[cluster], price=book.mid)
    limits = [c for c in result.children if c.order_type == "limit"]
    assert len(limits) == 1
    child = limits[0]
    assert cluster.price_low <= child.limit_price <= cluster.price_high
    assert child.limit_price < book.bids[0, 0]
    assert child.t_offset_s == 0.0
    assert 0.0 < child.quantity <= 0.30 * 50.0
    assert "long-liquidation band" in child.reason and "probability" in child.reason
    assert "bought at market" in child.reason
    assert_exact_sum(result, 50.0)
    plain = plan(book, "buy", 50.0, calibration)
    assert result.plan_slippage_bps < plain.plan_slippage_bps
    assert result.plan_slippage_bps_if_limits_unfilled > result.plan_slippage_bps


def test_no_limit_children_without_clusters_or_when_far(calibration: tuple[float, float]) -> None:
    book = recorded_order_book(0)
    for clusters in ([], [band_below(book, 800.0, 900.0)], [band_above(book, 2.0, 6.0, 1.0,
                                                                         "long")]):
        result = plan(book, "buy", 50.0, calibration, clusters=clusters)
        assert all(c.order_type == "market" for c in result.children)


def test_sell_mirrors_into_a_short_liquidation_band_above(
    calibration: tuple[float, float]
) -> None:
    book = recorded_order_book(0)
    cluster = band_above(book, 2.0, 6.0)
    result = plan(book, "sell", 50.0, calibration, clusters=[cluster])
    limits = [c for c in result.children if c.order_type == "limit"]
    assert len(limits) == 1
    assert cluster.price_low <= limits[0].limit_price <= cluster.price_high
    assert limits[0].limit_price > book.asks[0, 0]
    assert "short-liquidation band" in limits[0].reason
    assert_exact_sum(result, 50.0)
    assert all(c.order_type == "market" for c in plan(book, "buy", 50.0, calibration,
                                                      clusters=[cluster]).children
               if c.limit_price is None)


def test_buy_front_loads_ahead_of_a_short_cluster_just_above(
    calibration: tuple[float, float]
) -> None:
    book = recorded_order_book(0)
    plain = plan(book, "buy", 200.0, calibration)
    ahead = plan(book, "buy", 200.0, calibration, clusters=[band_above(book, 3.0, 8.0)])
    assert ahead.children[0].quantity > plain.children[0].quantity
    assert all("ahead of the short-liquidation cluster" in c.reason for c in ahead.children)
    assert all("ahead of" not in c.reason for c in plain.children)
    assert_exact_sum(ahead, 200.0)


def test_children_stay_below_a_short_cluster_the_market_order_would_reach(
    calibration: tuple[float, float]
) -> None:
    book = recorded_order_book(0)
    market_worst = walk_book(book.asks, 200.0, "buy").worst_price
    low = book.mid + (market_worst - book.mid) * 0.5
    cluster = Cluster("short", low, low * 1.001, low * 1.0005, 5e7, 0.9, 0.1)
    result = plan(book, "buy", 200.0, calibration, clusters=[cluster])
    for child in result.children:
        assert walk_book(book.asks, child.quantity, "buy").worst_price < low
    assert "one market order for the whole quantity would walk into it" in result.children[0].reason


def test_explicit_twap_ignores_clusters_and_says_so(calibration: tuple[float, float]) -> None:
    book = recorded_order_book(0)
    result = plan(book, "buy", 50.0, calibration, strategy="twap",
                  clusters=[band_below(book, 2.0, 6.0)])
    assert all(c.order_type == "market" for c in result.children)
    assert any("ignores" in note for note in result.notes)


def test_stale_map_price_is_noted(calibration: tuple[float, float]) -> None:
    book = recorded_order_book(0)
    result = plan(book, "buy", 10.0, calibration, price=book.mid * 1.05)
    assert any("stale" in note for note in result.notes)


def test_reach_probability() -> None:
    assert reach_probability(0.0, 1.0, 10.0) == 1.0
    assert reach_probability(1.0, 0.0, 10.0) == 0.0
    # one standard deviation sigma sqrt(T) away: 2 * (1 - Phi(1)) = 0.3173
    assert reach_probability(10.0, 1.0, 100.0) == pytest.approx(0.317311, rel=1e-5)


BAD_INPUTS = [
    ("quantity", {"quantity": 0.0}),
    ("quantity", {"quantity": -5.0}),
    ("quantity", {"quantity": math.nan}),
    ("quantity", {"quantity": math.inf}),
    ("quantity", {"quantity": "10"}),
    ("horizon_s", {"horizon_s": 0.0}),
    ("horizon_s", {"horizon_s": -60.0}),
    ("horizon_s", {"horizon_s": math.nan}),
    ("horizon_s", {"horizon_s": math.inf}),
    ("strategy", {"strategy": "vwap"}),
    ("side", {"side": "long"}),
    ("risk_aversion", {"risk_aversion": -1e-6}),
    ("risk_aversion", {"risk_aversion": math.nan}),
    ("max_participation", {"max_participation": 0.0}),
    ("max_participation", {"max_participation": 1.5}),
    ("max_participation", {"max_participation": math.inf}),
    ("sigma_quote_per_sqrt_s", {"sigma_quote_per_sqrt_s": math.nan}),
    ("volume_rate_base_per_s", {"volume_rate_base_per_s": -1.0}),
    ("volume_rate_base_per_s", {"volume_rate_base_per_s": 0.0, "strategy": "pov"}),
    ("quantity", {"quantity": 10.0005}),  # not whole lots of 0.001
    ("quantity", {"quantity": 0.0004}),  # below one lot
    ("price", {"price": math.nan}),
]


@pytest.mark.parametrize(("field", "override"), BAD_INPUTS)
def test_bad_input_raises_naming_the_field(field: str, override: dict) -> None:
    args = {"book": recorded_order_book(0), "side": "buy", "quantity": 10.0,
            "horizon_s": 300.0, "strategy": "auto", "sigma_quote_per_sqrt_s": 5.0,
            "volume_rate_base_per_s": 2.0, **override}
    with pytest.raises(ValueError, match=field) as info:
        plan_slices(**args)
    assert isinstance(info.value, SlicePlanError)
    assert info.value.field == field


def test_malformed_cluster_is_refused() -> None:
    @dataclass
    class Broken:
        side: str = "long"
        price_low: float = math.nan
        price_high: float = 1.0
        notional_quote: float = 1.0
        intensity: float = 1.0

    with pytest.raises(SlicePlanError, match="clusters"):
        plan_slices(recorded_order_book(0), "buy", 1.0, 60.0, sigma_quote_per_sqrt_s=1.0,
                    volume_rate_base_per_s=1.0, clusters=[Broken()])


# ----------------------------------------------------------------------------- quantities


def test_infer_lot_size() -> None:
    assert infer_lot_size(np.array([0.095, 0.002, 46.369])) == pytest.approx(0.001)
    assert infer_lot_size(np.array([1.0, 20.0, 3.0])) == 1.0
    assert infer_lot_size(np.array([0.5, 0.25])) == pytest.approx(0.01)
    assert infer_lot_size(np.array([0.00123456789012345, 2.0])) == pytest.approx(0.001)


@settings(max_examples=300, deadline=None)
@given(
    weights=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50).filter(lambda w: sum(w) > 0),
    total=st.integers(0, 10**6),
)
def test_split_in_lots_sums_and_is_non_negative(weights: list[float], total: int) -> None:
    lots = split_in_lots(np.asarray(weights), total)
    assert int(lots.sum()) == total
    assert np.all(lots >= 0)


def random_book(seed: int, levels: int) -> OrderBook:
    rng = np.random.default_rng(seed)
    mid = float(rng.uniform(10.0, 100_000.0))
    tick = 10.0 ** math.floor(math.log10(mid) - 4)
    steps = np.cumsum(rng.integers(1, 5, size=levels))
    sizes_a = np.round(rng.exponential(2.0, size=levels), 3) + 0.001
    sizes_b = np.round(rng.exponential(2.0, size=levels), 3) + 0.001
    best_ask = math.ceil(mid / tick) * tick + tick
    asks = np.column_stack([best_ask + (steps - 1) * tick, sizes_a])
    bids = np.column_stack([best_ask - tick - steps * tick, sizes_b])
    return OrderBook(bids=bids, asks=asks, timestamp_ms=0, source=f"random:{seed}")


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    levels=st.integers(1, 80),
    lots=st.integers(1, 500_000),
    horizon=st.floats(1.0, 7_200.0),
    strategy=st.sampled_from(["auto", "twap", "almgren_chriss", "pov"]),
    side=st.sampled_from(["buy", "sell"]),
    lot=st.sampled_from([None, 0.001, 0.01, 1.0, 0.0005]),
    near=st.booleans(),
)
def test_children_always_sum_exactly_to_the_request(
    seed: int, levels: int, lots: int, horizon: float, strategy: str, side: str,
    lot: float | None, near: bool,
) -> None:
    book = random_book(seed, levels)
    grid = None if lot is None else MarketPrecision(10.0 ** math.floor(
        math.log10(book.mid) - 4), lot)
    quantity = (grid or inferred_grid(book.bids, book.asks)).quantity_of(lots)
    assume(quantity <= 500.0)  # a POV schedule of more is refused (over 30 days at 0.05/s)
    clusters = [band_below(book, 1.0, 20.0, 0.9), band_above(book, 1.0, 20.0, 0.9)] if near else []
    result = plan_slices(
        book, side, quantity, horizon, strategy,  # type: ignore[arg-type]
        sigma_quote_per_sqrt_s=book.mid * 1e-4, volume_rate_base_per_s=0.5,
        clusters=clusters, precision=grid,
    )
    assert_exact_sum(result, quantity)
    # every child is at most the whole quantity and a limit rests at better than the mid
    assert result.plan_slippage_bps <= result.market_slippage_bps + 1e-9
    for child in result.children:
        assert child.reason.endswith(".")
        assert math.isfinite(child.t_offset_s) and child.t_offset_s >= 0.0
        if child.order_type == "limit":
            assert child.limit_price is not None and math.isfinite(child.limit_price)


def test_a_front_loaded_plan_says_in_numbers_why_it_costs_more_than_twap(
    calibration: tuple[float, float]
) -> None:
    """200 BTC over 6 h: Almgren-Chriss at the default risk aversion front-loads; on the
    resilient book that costs more than TWAP, for a lower timing risk, and the notes say both."""
    book = recorded_order_book(0)
    result = plan(book, "buy", 200.0, calibration, horizon_s=21_600.0)
    assert result.strategy_used == "almgren_chriss"
    assert result.plan_slippage_bps > result.twap_slippage_bps
    assert result.plan_timing_risk_quote < result.twap_timing_risk_quote
    [why] = [n for n in result.notes if "more than TWAP" in n]
    assert "trades faster early" in why and "risk aversion 1e-06 per USDT" in why
    for lam in (1e-9, 1e-8, 1e-7, 1e-6, 1e-5):
        chosen = plan(book, "buy", 200.0, calibration, horizon_s=21_600.0, risk_aversion=lam)
        quote = 200.0 * chosen.mid_price / 1e4
        plan_score = (chosen.plan_slippage_bps * quote
                      + lam * chosen.plan_timing_risk_quote**2)
        twap_score = (chosen.twap_slippage_bps * quote
                      + lam * chosen.twap_timing_risk_quote**2)
        if chosen.strategy_used == "twap":
            assert any(n.startswith("auto planned TWAP") for n in chosen.notes)
        else:  # kept only when it scores no worse than TWAP on the resilient book
            assert plan_score <= twap_score * (1 + 1e-9)


def test_one_market_order_beyond_the_visible_depth_is_extrapolated(
    calibration: tuple[float, float]
) -> None:
    book = recorded_order_book(0)
    depth = float(book.asks[:, 1].sum())
    result = plan(book, "buy", math.ceil(depth) + 100.0, calibration)
    assert result.market_extrapolated
    assert result.market_slippage_bps > walk_book(book.asks, depth, "buy", book.mid).slippage_bps
    assert any("extrapolated" in note for note in result.notes)
    assert not plan(book, "buy", 10.0, calibration).market_extrapolated


def test_a_quantity_off_the_lot_is_quoted_as_sent_with_its_nearest() -> None:
    """`:g` wrote 1000.0005 BTC as `1000` and its nearest lot as `1000` too."""
    with pytest.raises(SlicePlanError) as info:
        plan_slices(recorded_order_book(0), "buy", 1000.0005, 600.0,
                    sigma_quote_per_sqrt_s=5.0, volume_rate_base_per_s=2.0,
                    base_currency="BTC")
    assert str(info.value) == ("quantity: 1000.0005 is not a multiple of the lot 0.001 BTC "
                               "(nearest: 1000)")
