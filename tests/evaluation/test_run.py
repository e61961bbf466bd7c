"""`execsvc evaluate`: a hand-built day with known answers, the bundled set, bad input."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from execsvc.evaluation.calibration import fit_and_score, variants
from execsvc.evaluation.inputs import EvaluationInputError, TruthDay, load_markets, load_truth
from execsvc.evaluation.predict import day_document, predict_all, snapshot_at
from execsvc.evaluation.run import DAY_COLUMNS, DEFAULT_MARKETS, DEFAULT_TRUTH, evaluate
from execsvc.evaluation.scores import without_near_zero
from execsvc.liqmap.funding import FUNDING_BASELINE_PER_H, FUNDING_SCALE_PER_H
from execsvc.liqmap.model import MapParams
from execsvc.liqmap.venue_rules import hyperliquid_brackets
from execsvc.maps.refresh import snapshot_lookback_s
from execsvc.maps.venue_build import build_documents

HOUR = 3_600_000
DAY = dt.date(2025, 12, 20)
D_MS = int(dt.datetime(2025, 12, 20, tzinfo=dt.UTC).timestamp() * 1000)
PRICE = 100.0
OPENED = 500.0


def write_case(root: Path, low: float, high: float) -> tuple[Path, Path]:
    """Flat price 100 for two days with open interest 1000, +500 opened in the candle
    closing at D-9h (known then); on day D the price ranges over [low, high]."""
    coin = root / "markets" / "BTC"
    coin.mkdir(parents=True)
    with (coin / "candles.csv").open("w") as f:
        f.write("open_time,open,high,low,close,volume\n")
        for k in range(-48, 24):
            t = D_MS + k * HOUR
            if k < 0:
                f.write(f"{t},{PRICE},{PRICE},{PRICE},{PRICE},10\n")
            else:
                hi = high if k == 5 else PRICE
                lo = low if k == 10 else PRICE
                f.write(f"{t},{PRICE},{hi},{lo},{PRICE},10\n")
    with (coin / "open_interest.csv").open("w") as f:
        f.write("time,oi_quote\n")
        for k in range(-48, 24):
            # stamped D-10h, known D-9h: the candle closing at D-9h opens it
            oi = 1000.0 + (OPENED if k >= -10 else 0.0)
            f.write(f"{D_MS + k * HOUR},{oi}\n")
    truth = root / "truth.csv"
    truth.write_text("date,coin,long_usd,short_usd,total_usd,liq_count\n"
                     f"{DAY},BTC,700,20,720,5\n")
    return root / "markets", truth


PARAMS = MapParams(leverage_mix={10.0: 1.0}, side_split="even", cap_leverage_to_venue=True,
                   bin_width_bps=10.0, range_pct=20.0)


def long_ratio_10x() -> float:
    mmr = hyperliquid_brackets("BTC")[0].mmr  # 1/80 for BTC's 40x
    return (1 - 1 / 10) / (1 - mmr)


def test_a_low_that_crosses_the_band_liquidates_the_cohort_exactly(tmp_path: Path) -> None:
    markets, truth = write_case(tmp_path, low=85.0, high=105.0)
    result = evaluate(PARAMS, data_dir=markets, truth_file=truth, window="1d", window_s=86_400)
    (day,) = result.predictions
    # the 500 opened at 100 split evenly: 250 long liquidated at 100 * 0.9114, all crossed by 85;
    # the 250 short lie at 108.6, beyond the high of 105
    assert day.predicted_long == pytest.approx(OPENED / 2, abs=0.02)
    assert day.predicted_short == 0.0
    assert day.oi_quote == 1500.0
    assert day.naive_long == pytest.approx(1500 * 0.15)
    assert day.naive_short == pytest.approx(1500 * 0.05)
    assert (day.realized_long, day.realized_short) == (700.0, 20.0)
    assert (day.open, day.high, day.low) == (100.0, 105.0, 85.0)


def test_a_low_inside_the_band_counts_the_crossed_part_of_it(tmp_path: Path) -> None:
    liquidation = PRICE * long_ratio_10x()
    width = PRICE * 10 / 1e4
    band_low = PRICE - width * (int((PRICE - liquidation) / width) + 1)
    low = band_low + 0.25 * width  # three quarters of the band crossed
    markets, truth = write_case(tmp_path, low=low, high=101.0)
    result = evaluate(PARAMS, data_dir=markets, truth_file=truth, window="1d", window_s=86_400)
    (day,) = result.predictions
    assert day.predicted_long == pytest.approx(0.75 * OPENED / 2, abs=0.02)
    assert day.predicted_short == 0.0


def test_a_low_above_the_band_liquidates_nothing_and_churn_adds_its_share(
        tmp_path: Path) -> None:
    markets, truth = write_case(tmp_path, low=95.0, high=101.0)
    params = dataclasses.replace(PARAMS, churn_rate_per_day=0.5)
    result = evaluate(params, data_dir=markets, truth_file=truth, window="1d", window_s=86_400)
    (day,) = result.predictions
    assert day.bands_long == 0.0 and day.bands_short == 0.0
    # churn: 0.5 * 1500 / 2 per side, entries over [95, 101]; a 10x long at p dies if
    # 95 <= p * r, i.e. p >= 95 / r = 104.2 > 101: none; shorts need 101 >= p * 1.086: p <= 93
    assert day.predicted_long == 0.0 and day.predicted_short == 0.0
    markets2, truth2 = write_case(tmp_path / "wide", low=80.0, high=120.0)
    (wide,) = evaluate(params, data_dir=markets2, truth_file=truth2, window="1d",
                       window_s=86_400).predictions
    opened = 0.5 * 1500 / 2
    r = long_ratio_10x()
    churn_long = opened * (120 - 80 / r) / 40
    assert wide.predicted_long - wide.bands_long == pytest.approx(churn_long, rel=1e-4)


def test_the_bundled_evaluation_runs_and_writes_the_documented_outputs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "execsvc.cli", "evaluate", "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["days"] >= 50 and set(metrics["coins"]) == {"BTC", "ETH", "SOL", "HYPE",
                                                                "DOGE"}
    for model in ("map", "naive", "shape"):
        for side in ("long", "short", "total"):
            entry = metrics["spearman_within_coin"][model][side]
            assert -1 <= entry["value"] <= 1 and entry["ci95"][0] <= entry["ci95"][1]
    assert set(metrics["cluster_attraction"]) == {"long", "short"}
    with (tmp_path / "days.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == DAY_COLUMNS and len(rows) == metrics["days"] + 1
    assert json.loads((tmp_path / "metrics.json").read_text())["days"] == metrics["days"]


def test_the_default_model_beats_naive_out_of_sample_on_long_and_total() -> None:
    """Done-when check on the bundled December data (docs/evaluation.md): leave-one-week-out
    within-coin Spearman of the default variant against naive. The short side does not beat
    naive (0.73 against 0.78), which the report states; it is asserted not to fall further."""
    truth = load_truth(DEFAULT_TRUTH)
    markets = load_markets(DEFAULT_MARKETS, {t.coin for t in truth})
    churn = next(v for v in variants() if v.name == "churn")
    result = fit_and_score(churn, MapParams(), markets, truth, "7d", 7 * 86_400)
    lowo = result["lowo"]
    assert lowo["map"]["long"] >= lowo["naive"]["long"]
    assert lowo["map"]["total"] >= lowo["naive"]["total"] + 0.05
    assert lowo["map"]["short"] >= 0.70


@pytest.mark.parametrize(("content", "expected"), [
    ("date,coin,long_usd\n", "missing column(s)"),
    ("date,coin,long_usd,short_usd,total_usd,liq_count\n2025-13-01,BTC,1,2,3,4\n",
     "line 2, column 'date'"),
    ("date,coin,long_usd,short_usd,total_usd,liq_count\n2025-12-01,BTC,-1,2,3,4\n",
     "line 2, column 'long_usd'"),
    ("date,coin,long_usd,short_usd,total_usd,liq_count\n2025-12-01,BTC,1,2,3,4\n"
     "2025-12-01,BTC,1,2,3,4\n", "line 3"),
])
def test_a_bad_truth_row_is_named(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "truth.csv"
    path.write_text(content)
    with pytest.raises(EvaluationInputError, match=expected.replace("(", r"\(").replace(")",
                                                                                        r"\)")):
        load_truth(path)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "execsvc.cli", "evaluate", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_errors_are_one_clean_line(tmp_path: Path) -> None:
    missing = run_cli("--truth", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "nope.csv: truth file not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    truth = tmp_path / "truth.csv"
    truth.write_text("date,coin,long_usd,short_usd,total_usd,liq_count\n"
                     "2025-12-20,XRP,1,2,3,4\n")
    no_coin = run_cli("--truth", str(truth))
    assert no_coin.returncode == 2 and "no market data for coin(s) XRP" in no_coin.stderr
    bad = run_cli("--window", "2d")
    assert bad.returncode == 2 and "--window must be one of" in bad.stderr
    assert "Traceback" not in no_coin.stderr + bad.stderr


def short_ratio_10x() -> float:
    mmr = hyperliquid_brackets("BTC")[0].mmr
    return (1 + 1 / 10) / (1 + mmr)


def test_churn_read_along_the_day_counts_only_entries_before_the_extreme(
        tmp_path: Path) -> None:
    """High 120 in hour 5, low 80 in hour 10, 100 otherwise (`write_case`)."""
    markets, truth = write_case(tmp_path, low=80.0, high=120.0)
    params = dataclasses.replace(PARAMS, churn_rate_per_day=0.5)
    loaded_truth = load_truth(truth)
    loaded = load_markets(markets, {"BTC"})
    (path,), _ = predict_all(loaded, loaded_truth, "1d", 86_400, params, "hyperliquid", "path")
    (by_range,), _ = predict_all(loaded, loaded_truth, "1d", 86_400, params, "hyperliquid")
    per_hour = 0.5 * 1500 / 2 / 24
    r_long, r_short = long_ratio_10x(), short_ratio_10x()
    # longs: hours 0-9 entered at or above 100 >= 80 / r_long, all liquidated by the low; hour
    # 10 over [80, 100] above 80 / r_long; nothing after the low
    churn_long = per_hour * (10 + (100 - 80 / r_long) / 20)
    # shorts: hours 0-4 at 100 <= 120 / r_short; hour 5 over [100, 120] below 120 / r_short;
    # hour 10 over [80, 100] below its own high 100 / r_short; the rest never see a higher high
    churn_short = per_hour * (5 + (120 / r_short - 100) / 20 + (100 / r_short - 80) / 20)
    assert path.predicted_long - path.bands_long == pytest.approx(churn_long, rel=1e-4)
    assert path.predicted_short - path.bands_short == pytest.approx(churn_short, rel=1e-4)
    assert by_range.predicted_long - by_range.bands_long > churn_long * 1.5


def test_the_funding_split_reads_only_funding_known_before_the_day(tmp_path: Path) -> None:
    markets, truth = write_case(tmp_path, low=80.0, high=120.0)
    crowded = FUNDING_BASELINE_PER_H + FUNDING_SCALE_PER_H
    with (markets / "BTC" / "funding.csv").open("w") as f:
        f.write("time,funding_rate_per_h\n")
        for k in range(-48, 24):
            # stamped D-24h .. D-1h: known D-23h .. D, the trailing day; stamped D: known
            # only at D+1h, must not count
            rate = crowded if -24 <= k <= -1 else (1.0 if k == 0 else FUNDING_BASELINE_PER_H)
            f.write(f"{D_MS + k * HOUR},{rate}\n")
    even = dataclasses.replace(PARAMS, churn_rate_per_day=0.5)
    split = dataclasses.replace(even, side_split="funding", funding_crowding=0.2)
    (a,) = evaluate(even, data_dir=markets, truth_file=truth, window="1d",
                    window_s=86_400).predictions
    (b,) = evaluate(split, data_dir=markets, truth_file=truth, window="1d",
                    window_s=86_400).predictions
    share = 0.5 + 0.2 * math.tanh(1.0)
    assert b.predicted_long - b.bands_long == pytest.approx(
        2 * share * (a.predicted_long - a.bands_long), rel=1e-4)
    assert b.predicted_short - b.bands_short == pytest.approx(
        2 * (1 - share) * (a.predicted_short - a.bands_short), rel=1e-4)


def test_a_bad_funding_row_is_named(tmp_path: Path) -> None:
    markets, _ = write_case(tmp_path, low=90.0, high=110.0)
    (markets / "BTC" / "funding.csv").write_text(
        f"time,funding_rate_per_h\n{D_MS},0.0001\n{D_MS + HOUR},high\n")
    with pytest.raises(EvaluationInputError,
                       match=r"funding.csv, line 3, column 'funding_rate_per_h'"):
        load_markets(markets, {"BTC"})


def test_the_sensitivity_rule_drops_rows_below_5_percent_of_the_coin_median() -> None:
    truth = [TruthDay(DAY + dt.timedelta(days=k), coin, 1.0, 1.0, k + 2, count)
             for k, (coin, count) in enumerate([("BTC", 100), ("BTC", 4.9), ("BTC", 5),
                                                ("BTC", 300), ("ETH", 1), ("ETH", 0)])]
    # BTC median 52.5 -> limit 2.625; ETH median 0.5 -> limit 0.025
    data = {"coin": np.array(["BTC", "BTC", "BTC", "ETH", "ETH"]),
            "liq_count": np.array([100, 2.0, 5, 1, 0])}
    assert without_near_zero(data, truth).tolist() == [True, False, True, True, False]


def venue_case(root: Path, low: float, high: float) -> tuple[Path, Path]:
    """`write_case`'s market on two venues (`<venue>/BTC/`), each priced by its own rules."""
    venues = root / "venues"
    venues.mkdir()
    truth = root / "truth.csv"
    for venue in ("hyperliquid", "binanceusdm"):
        markets, truth = write_case(root / venue, low, high)
        markets.rename(venues / venue)
    return venues, truth


def test_the_venues_summed_add_their_maps(tmp_path: Path) -> None:
    """Both venues liquidate their 250 of longs above a low of 85, each at its own price: the
    sum holds both, and the naive baseline reads the venues' summed open interest."""
    venues, truth = venue_case(tmp_path, low=85.0, high=105.0)
    summed = evaluate(PARAMS, data_dir=venues, truth_file=truth, window="1d", window_s=86_400,
                      venue="all")
    (day,) = summed.predictions
    assert day.bands_long == pytest.approx(2 * OPENED / 2, abs=0.05)
    assert day.bands_short == 0.0
    assert day.oi_quote == 3000.0 and day.naive_long == pytest.approx(3000 * 0.15)
    inputs = summed.metrics["inputs"]
    assert inputs["venues_summed"] == ["binanceusdm", "hyperliquid"]
    assert inputs["venue"] == "all" and inputs["truth_venue"] == "as given"
    one = evaluate(PARAMS, data_dir=venues, truth_file=truth, window="1d", window_s=86_400,
                   venue="hyperliquid")
    assert one.predictions[0].bands_long == pytest.approx(OPENED / 2, abs=0.02)
    assert one.metrics["inputs"]["venues_summed"] == ["hyperliquid"]
    with pytest.raises(EvaluationInputError, match="no data of venue 'okx'"):
        evaluate(PARAMS, data_dir=venues, truth_file=truth, window="1d", window_s=86_400,
                 venue="okx")


def test_a_short_inside_one_venues_band_counts_that_venues_part(tmp_path: Path) -> None:
    """A high of 109 between the two venues' 10x short liquidation prices (Hyperliquid's
    108.6 with its 1/80 maintenance rate, Binance's 109.6 with 0.4 %): only Hyperliquid's
    shorts are reached, and the sum holds just them."""
    venues, truth = venue_case(tmp_path, low=99.0, high=109.0)
    summed = evaluate(PARAMS, data_dir=venues, truth_file=truth, window="1d", window_s=86_400,
                      venue="all").predictions[0]
    each = [evaluate(PARAMS, data_dir=venues, truth_file=truth, window="1d", window_s=86_400,
                     venue=venue).predictions[0] for venue in ("hyperliquid", "binanceusdm")]
    assert each[0].bands_short == pytest.approx(OPENED / 2, abs=0.02)
    assert each[1].bands_short == 0.0
    assert summed.bands_short == pytest.approx(OPENED / 2, abs=0.05)


def test_a_directory_of_coins_summed_is_its_one_venue(tmp_path: Path) -> None:
    markets, truth = write_case(tmp_path, low=85.0, high=105.0)
    summed = evaluate(PARAMS, data_dir=markets, truth_file=truth, window="1d", window_s=86_400,
                      venue="all")
    alone = evaluate(PARAMS, data_dir=markets, truth_file=truth, window="1d", window_s=86_400,
                     venue="hyperliquid")
    assert summed.predictions == alone.predictions
    assert summed.metrics["inputs"]["venues_summed"] == ["hyperliquid"]


def test_a_venue_is_scored_with_its_own_liquidation_formula(tmp_path: Path) -> None:
    """`--venue bybit` builds Bybit's map as the worker does (`build_venue`: Bybit's tiers and
    its formula, the tier picked at entry), and says so in the metrics."""
    markets, truth = write_case(tmp_path, low=85.0, high=105.0)
    (market,) = load_markets(markets, {"BTC"}).values()
    windows = {"1d": 86_400}
    found = day_document({"bybit": market}, D_MS, windows, PARAMS)
    assert not isinstance(found, str)
    document, _ = found
    assert document["assumptions"]["liquidation_formula"] == "bybit"
    snapshot = snapshot_at(market, D_MS, snapshot_lookback_s(windows, PARAMS), "bybit")
    assert document == build_documents(snapshot, windows, PARAMS)[0]
    scored = evaluate(PARAMS, data_dir=markets, truth_file=truth, window="1d", window_s=86_400,
                      venue="bybit")
    assert scored.metrics["model"]["liquidation_formula"] == "bybit"
    assert evaluate(PARAMS, data_dir=markets, truth_file=truth, window="1d", window_s=86_400,
                    venue="hyperliquid").metrics["model"]["liquidation_formula"] == "binance"
