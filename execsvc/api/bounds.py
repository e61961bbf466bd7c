"""The numeric bounds of every request field: one place, one annotated type per kind of number,
reused by every schema (`execsvc.api.schemas`).

Every bound is finite and realistic for crypto perpetual futures, so nothing a request can
carry overflows, underflows or turns into inf/NaN on its way through the model (a quantity of
`5e-324` or `1e306`, a risk of `1e308`, a loss limit of `1e-300 %` are refused with a 422
naming the field). Requests also refuse NaN and infinities (`StrictModel`).

| type | unit | range |
|---|---|---|
| `Price` | quote per base | 1e-8 .. 1e8 |
| `Quantity` | base units | 1e-9 .. 1e9 |
| `QuoteAmount` | quote currency | 0.01 .. 1e10 |
| `LossPercent` | percent of the entry | 0.01 .. 99 |
| `Leverage` | an order's multiple (20 = 20x) | 1 .. 125 |
| `PositionLeverage` | a held position's multiple, any venue | 1 .. 200 |
| `HorizonSeconds` | seconds | 1 .. 7 days |
| `Fraction` | 0..1 (participation) | 0.0001 .. 1 |
| `RiskAversion` | Almgren-Chriss lambda, 1/quote | 0 .. 1 |
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MIN_PRICE, MAX_PRICE = 1e-8, 1e8
MIN_QUANTITY, MAX_QUANTITY = 1e-9, 1e9
MIN_QUOTE, MAX_QUOTE = 0.01, 1e10
MIN_LOSS_PCT, MAX_LOSS_PCT = 0.01, 99.0
MIN_LEVERAGE, MAX_LEVERAGE = 1.0, 125.0
MAX_POSITION_LEVERAGE = 200.0
MIN_HORIZON_S, MAX_HORIZON_S = 1.0, 7 * 86_400.0
MIN_FRACTION, MAX_FRACTION = 1e-4, 1.0

Price = Annotated[float, Field(ge=MIN_PRICE, le=MAX_PRICE, allow_inf_nan=False,
                               description="quote per base")]
Quantity = Annotated[float, Field(ge=MIN_QUANTITY, le=MAX_QUANTITY, allow_inf_nan=False,
                                  description="base units")]
QuoteAmount = Annotated[float, Field(ge=MIN_QUOTE, le=MAX_QUOTE, allow_inf_nan=False,
                                     description="quote currency")]
LossPercent = Annotated[float, Field(ge=MIN_LOSS_PCT, le=MAX_LOSS_PCT, allow_inf_nan=False,
                                     description="percent of the entry price")]
Leverage = Annotated[float, Field(ge=MIN_LEVERAGE, le=MAX_LEVERAGE, allow_inf_nan=False,
                                  description="multiple, 20 = 20x")]
PositionLeverage = Annotated[float, Field(ge=MIN_LEVERAGE, le=MAX_POSITION_LEVERAGE,
                                          allow_inf_nan=False, description="multiple, 20 = 20x")]
HorizonSeconds = Annotated[float, Field(ge=MIN_HORIZON_S, le=MAX_HORIZON_S,
                                        allow_inf_nan=False, description="seconds")]
Fraction = Annotated[float, Field(ge=MIN_FRACTION, le=MAX_FRACTION, allow_inf_nan=False)]
RiskAversion = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False,
                                      description="Almgren-Chriss lambda, 1/quote "
                                                  "(typical 1e-6)")]
