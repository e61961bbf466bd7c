"""Answers kept as JSON bytes (`responses.json_head`, `with_last_field`) are the bytes
`FastJSONResponse` sends for the same object with the field added last."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from execsvc.api.responses import FastJSONResponse, json_head, with_last_field

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=6) \
    | st.floats(allow_nan=False, allow_infinity=False)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)


@given(content=st.dictionaries(st.text(max_size=6).filter(lambda k: k != "map"), values,
                               max_size=6),
       last=values)
def test_with_last_field_sends_what_fast_json_sends(content: dict, last: object) -> None:
    kept = with_last_field(json_head(content), "map", last)
    sent = FastJSONResponse({**content, "map": last})
    assert kept.body == sent.body
    assert kept.headers.raw == sent.headers.raw


def test_numpy_values_are_encoded_as_fast_json_encodes_them() -> None:
    content = {"a": np.arange(3.0), "b": np.float64(0.1)}
    assert with_last_field(json_head(content), "map", {"v": 1}).body == (
        FastJSONResponse({**content, "map": {"v": 1}}).body)
