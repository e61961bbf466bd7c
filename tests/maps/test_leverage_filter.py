"""`maps.leverage_filter.for_leverages` against the model: the kept leverages' notional, the
long/short split, cumulative curves and clusters recomputed, and the whole set reproducing
the document the worker built."""

from __future__ import annotations

import asyncio
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.map_document import MapDocument, UnknownLeverage
from execsvc.maps.leverage_filter import for_leverages
from execsvc.maps.refresh import fetch_snapshot, map_params
from execsvc.maps.venue_build import build_documents
from execsvc.market.replay import ReplaySource
from execsvc.settings import Settings


@cache
def document() -> MapDocument:
    source = ReplaySource(speed=720, symbols=["BTCUSDT"])
    snapshot = asyncio.run(fetch_snapshot(source, source.symbols()[0], 7 * 86_400))
    config = Settings(_env_file=None, symbols="BTCUSDT", windows="7d")
    return build_documents(snapshot, {"7d": 7 * 86_400}, map_params(config))[0]


def test_all_leverages_reproduce_the_built_document() -> None:
    built = document()
    again = for_leverages(built, built["leverages"])
    for mine, theirs in zip(again["bands"], built["bands"], strict=True):
        for field in ("long_notional_quote", "short_notional_quote",
                      "cum_long_notional_quote", "cum_short_notional_quote", "intensity"):
            assert mine[field] == pytest.approx(theirs[field], rel=1e-6, abs=0.05), field
    # the same clusters; two of equal notional (to the cent) may swap rank after re-summing
    assert sorted((c["side"], c["peak_price"]) for c in again["clusters"]) == sorted(
        (c["side"], c["peak_price"]) for c in built["clusters"])
    assert [c["notional_quote"] for c in again["clusters"]] == pytest.approx(
        [c["notional_quote"] for c in built["clusters"]], abs=0.05)


@settings(max_examples=25, deadline=None)
@given(st.sets(st.sampled_from([10.0, 25.0, 40.0]), min_size=1))  # 50x, 100x: Hyperliquid's 40x
def test_kept_leverages_only(wanted: set[float]) -> None:
    built = document()
    kept = [i for i, lev in enumerate(built["leverages"]) if lev in wanted]
    part = for_leverages(built, sorted(wanted))
    assert part["leverages"] == [built["leverages"][i] for i in kept]
    price = part["price"]
    cum_long = 0.0
    for band, full in zip(reversed(part["bands"]), reversed(built["bands"]), strict=True):
        assert band["notional_by_leverage_quote"] == pytest.approx(
            [full["notional_by_leverage_quote"][i] for i in kept], abs=0.006)
        total = sum(band["notional_by_leverage_quote"])
        if band["price_low"] < price:
            assert band["short_notional_quote"] == 0.0
            assert band["long_notional_quote"] == pytest.approx(total, abs=0.02)
            cum_long += band["long_notional_quote"]
            assert band["cum_long_notional_quote"] == pytest.approx(cum_long, rel=1e-9, abs=0.1)
        else:
            assert band["long_notional_quote"] == 0.0
        assert 0.0 <= band["intensity"] <= 1.0
    for cluster in part["clusters"]:
        assert (cluster["price_high"] <= price) == (cluster["side"] == "long")
    assert part["totals"]["long_notional_quote"] <= built["totals"]["long_notional_quote"] + 1


def test_an_unknown_leverage_is_named() -> None:
    with pytest.raises(UnknownLeverage, match=r"leverage 7 is not in this map \(10x, 25x"):
        for_leverages(document(), [7.0])
