"""`suggest_stop` over a `StopTable` built once per map gives, for every entry asked of it,
exactly what a search over the map's cluster list gives for that entry alone: a table shared by
every request on a map version carries nothing from one search to the next.

(When the table replaced the per-call search, a frozen copy of the earlier rules checked it
field for field on 400 generated cases, commit 58af176; the copy is not kept, so the stop rules
have one home. The rules themselves are pinned by tests/execution/test_stops_take_profit.py.)"""

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


@settings(max_examples=300)
@given(
    side=st.sampled_from(["long", "short"]), entries=st.lists(st.floats(90, 110), min_size=2,
                                                              max_size=6),
    clusters=clusters_strategy, atr=st.floats(0.01, 5), overshoot_pct=st.floats(0, 3),
    max_loss=st.one_of(st.none(), st.floats(0.1, 30)), grid=grids, position=positions,
    quantity=st.one_of(st.none(), st.floats(0.001, 1000)),
    risk=st.one_of(st.none(), st.floats(1, 1e5)),
    params=st.sampled_from([PARAMS, StopParams()]),
)
def test_one_table_answers_every_entry_as_a_search_of_its_own(
    side, entries, clusters, atr, overshoot_pct, max_loss, grid, position, quantity, risk, params
) -> None:
    table = StopTable.of(side, clusters, params)

    def advice(searched, entry):
        return asdict(suggest_stop(
            side, entry, searched, atr, lambda c: overshoot_pct * c.intensity, params,
            precision=grid, max_loss_pct=max_loss, quantity=quantity, risk_quote=risk,
            position=position))

    for entry in entries:
        assert advice(table, entry) == advice(list(clusters), entry)


def test_a_table_of_another_side_or_rule_is_refused() -> None:
    table = StopTable.of("long", [], PARAMS)
    with pytest.raises(ValueError, match="another side"):
        suggest_stop("short", 100.0, table, 1.0, lambda _: 0.0, precision=CENT)
    with pytest.raises(ValueError, match="another side"):
        suggest_stop("long", 100.0, table, 1.0, lambda _: 0.0, StopParams(),
                     precision=CENT)
