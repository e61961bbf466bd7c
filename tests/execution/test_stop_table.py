"""`suggest_stop` over a `StopTable` built once per map gives exactly what the search gave
before the table (`tests/support/stops_reference.py`, the rules as they stood), for any
entry, side, risk, loss limit and position, on generated maps and on the replayed ones."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.execution.stops import StopParams, StopTable, suggest_stop
from tests.execution.test_stops_take_profit import (
    CENT,
    PARAMS,
    clusters_strategy,
    grids,
    positions,
)
from tests.support import stops_reference


def both(side, entry, clusters, atr, overshoot, params, **kwargs):
    """(the reference's advice, the advice over a table, the advice over the cluster list),
    as plain dicts."""
    reference = stops_reference.suggest_stop(side, entry, clusters, atr, overshoot, params,
                                             **kwargs)
    table = StopTable.of(side, clusters, params)
    return (asdict(reference), asdict(suggest_stop(side, entry, table, atr, overshoot, params,
                                                   **kwargs)),
            asdict(suggest_stop(side, entry, clusters, atr, overshoot, params, **kwargs)))


@settings(max_examples=400)
@given(
    side=st.sampled_from(["long", "short"]), entry=st.floats(90, 110), clusters=clusters_strategy,
    atr=st.floats(0.01, 5), overshoot_pct=st.floats(0, 3),
    max_loss=st.one_of(st.none(), st.floats(0.1, 30)), grid=grids, position=positions,
    quantity=st.one_of(st.none(), st.floats(0.001, 1000)),
    risk=st.one_of(st.none(), st.floats(1, 1e5)),
    params=st.sampled_from([PARAMS, StopParams()]),
)
def test_the_table_search_is_the_reference_search(
    side, entry, clusters, atr, overshoot_pct, max_loss, grid, position, quantity, risk, params
) -> None:
    reference, tabled, listed = both(
        side, entry, clusters, atr, lambda c: overshoot_pct * c.intensity, params,
        precision=grid, max_loss_pct=max_loss, quantity=quantity, risk_quote=risk,
        position=position)
    assert tabled == reference
    assert listed == reference


def test_a_table_of_another_side_or_rule_is_refused() -> None:
    table = StopTable.of("long", [], PARAMS)
    with pytest.raises(ValueError, match="another side"):
        suggest_stop("short", 100.0, table, 1.0, lambda _: 0.0, precision=CENT)
    with pytest.raises(ValueError, match="another side"):
        suggest_stop("long", 100.0, table, 1.0, lambda _: 0.0, StopParams(),
                     precision=CENT)
