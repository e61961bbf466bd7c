"""The 422 that an order off the symbol's grid gets names the value sent and the nearest
accepted one as decimals that read back as those numbers (a trader copies the nearest value
into the retry), at every magnitude a price or a quantity takes."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from execsvc.domain.orders import OrderRequest, off_grid_problem
from execsvc.domain.units import MarketPrecision

BTC = MarketPrecision(0.1, 0.001)


def request(**changes: object) -> OrderRequest:
    fields: dict = {"client_order_id": "c", "symbol": "BTCUSDT", "side": "sell",
                    "type": "limit", "quantity": 0.01, "price": 90_000.0}
    fields.update(changes)
    return OrderRequest(**fields)


def numbers(message: str) -> tuple[float, float]:
    """The value and the nearest a message quotes."""
    sent = re.match(r"^\w+ (\S+) is not", message)
    nearest = re.search(r"\(nearest: (\S+)\)$", message)
    assert sent and nearest, message
    return float(sent.group(1)), float(nearest.group(1))


def test_a_price_above_100000_is_quoted_as_sent_and_its_nearest_tick() -> None:
    field, message = off_grid_problem(request(price=101_234.65), BTC)
    assert field == "price"
    assert message == "price 101234.65 is not on the tick 0.1 (nearest: 101234.6)"


def test_a_price_a_hair_off_the_tick_is_not_quoted_as_the_tick_itself() -> None:
    _, message = off_grid_problem(request(price=90_000.0000001), BTC)
    assert message == "price 90000.0000001 is not on the tick 0.1 (nearest: 90000)"


def test_a_quantity_off_the_lot_is_quoted_as_sent() -> None:
    field, message = off_grid_problem(request(quantity=1000.0005), BTC)
    assert field == "quantity"
    assert message == "quantity 1000.0005 is not a multiple of the lot 0.001 (nearest: 1000)"


@given(ticks=st.integers(1, 10**7), off=st.floats(0.01, 0.49))
def test_the_quoted_numbers_read_back_as_the_value_and_the_nearest(ticks: int, off: float
                                                                   ) -> None:
    price = (ticks + off) * 0.1
    problem = off_grid_problem(request(price=price), BTC)
    assert problem is not None
    sent, nearest = numbers(problem[1])
    assert sent == price
    assert nearest == BTC.price(price) and BTC.on_price_grid(nearest)
