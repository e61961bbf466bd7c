"""`execsvc backtest`: outcomes on constructed paths, entries that see only the past, the
tuning done on the first half only, and the command's table."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from execsvc.backtest.markets import evaluation_markets, ftx_market
from execsvc.backtest.outcomes import bracket
from execsvc.backtest.run import (
    INTENSITIES,
    REACHES_ATR,
    atr_rule,
    backtest,
    cluster_rule,
    differences,
    entries,
    matched_baselines,
    run_stops,
)
from execsvc.cli import app
from execsvc.execution.stops import StopParams
from execsvc.liqmap.candles import Candles
from execsvc.maps.refresh import map_params
from execsvc.settings import Settings

PARAMS = map_params(Settings(_env_file=None))


def path(highs, lows, opens=None, closes=None) -> Candles:
    n = len(highs)
    opens = opens or [100.0] * n
    closes = closes or [100.0] * n
    return Candles(np.arange(n, dtype=np.int64) * 3_600_000, np.array(opens, float),
                   np.array(highs, float), np.array(lows, float), np.array(closes, float),
                   np.ones(n), np.full(n, np.nan), 3_600_000)


def test_outcomes_known_answers() -> None:
    # stopped in candle 1, then back through the entry in candle 2: a wick stop-out
    wick = bracket("long", 100.0, 98.0, path([101, 100, 102], [99, 97, 99]))
    assert (wick.stopped, wick.wick, wick.pnl_r) == (True, True, -1.0)
    # a gap through the stop fills at the open: worse than -1 R
    gap = bracket("long", 100.0, 98.0, path([100, 97], [99, 95], opens=[100, 96]))
    assert gap.stopped and gap.pnl_r == -2.0 and not gap.wick
    # neither: marked at the last close, in R
    held = bracket("short", 100.0, 104.0, path([101, 102], [99, 98], closes=[99, 98]))
    assert (held.stopped, held.pnl_r) == (False, 0.5)
    # a candle reaching both stop and target counts as stopped
    both = bracket("long", 100.0, 98.0, path([103], [97]), target=102.0)
    assert both.stopped and not both.target_hit
    hit = bracket("long", 100.0, 98.0, path([101, 103], [99, 99]), target=102.0)
    assert hit.target_hit and hit.pnl_r == 1.0
    with pytest.raises(ValueError):
        bracket("long", 100.0, 101.0, path([101], [99]))


def test_entries_see_only_the_data_before_them() -> None:
    [btc] = evaluation_markets(coins=("BTC",))
    found = entries(btc, PARAMS, step_h=24 * 7, horizon_h=24)
    assert len(found) >= 8
    for entry in found:
        snapshot = btc.snapshot(entry.time_ms, 40 * 86_400)
        assert snapshot.candles.open_time_ms[-1] + 3_600_000 <= entry.time_ms
        assert (snapshot.open_interest.time_ms <= entry.time_ms).all()
        assert entry.price == snapshot.price
        assert entry.path.open_time_ms[0] == entry.time_ms and len(entry.path) == 24
    ftx = entries(ftx_market(), PARAMS, step_h=24 * 5, horizon_h=24)
    assert ftx and all(len(e.path) == 24 * 60 for e in ftx)


def test_baselines_are_as_wide_as_the_advice_on_average_and_differences_bootstrap() -> None:
    [eth] = evaluation_markets(coins=("ETH",))
    found = entries(eth, PARAMS, step_h=24, horizon_h=24)
    rule = cluster_rule(StopParams())
    k, pct = matched_baselines(rule, found)
    advice, baseline = run_stops("c", rule, found), run_stops("a", atr_rule(k), found)
    ratio = [abs(e.price - rule(e, s)) / e.atr for e in found for s in ("long", "short")]
    assert k == pytest.approx(np.mean(ratio))
    assert advice.stats.positions == baseline.stats.positions == 2 * len(found)
    [stopped, wick, pnl] = differences(advice, baseline, resamples=300)
    assert stopped.value == pytest.approx(advice.stats.stop_rate - baseline.stats.stop_rate)
    assert stopped.low <= stopped.value <= stopped.high and pnl.low <= pnl.high
    assert 0 < pct < 20 and wick.metric == "wick"


def test_the_rule_is_chosen_on_the_first_half_and_reported_on_the_rest() -> None:
    result = backtest(PARAMS, StopParams(), step_h=48, horizon_h=24, with_ftx=False)
    assert len(result.grid) == len(INTENSITIES) * len(REACHES_ATR)
    assert result.chosen.train_gap == min(t.train_gap for t in result.grid)
    [part] = result.parts
    train_end = result.train_label.split("..")[1][:10]
    test_start = part.label.split("(")[1][:10]
    assert part.label.startswith("test: evaluation set, second half (")
    assert train_end < test_start  # ISO dates: the test part comes after the training part
    assert [s.rule.split()[-1] for s in part.stops] == ["cluster-aware", "ATR", "%"]
    assert part.targets[0].target == "nearest zone"


def test_the_command_prints_the_table() -> None:
    result = CliRunner().invoke(app, ["backtest", "--step-hours", "72", "--no-ftx"])
    assert result.exit_code == 0, result.output
    assert "clusters that matter, chosen on the evaluation set, first half" in result.output
    for row in ("cluster-aware", "x ATR", "fixed", "nearest zone", "1 R", "2 R",
                "cluster-aware minus ATR"):
        assert row in result.output
    bad = CliRunner().invoke(app, ["backtest", "--step-hours", "0"])
    assert bad.exit_code != 0
