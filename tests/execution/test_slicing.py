"""Almgren-Chriss, TWAP and POV schedules: the paper's example, direct sums, properties."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from execsvc.execution.slicing import (
    AlmgrenChrissSchedule,
    almgren_chriss,
    pov_schedule,
    twap_trades,
)

# Almgren & Chriss (2000), section 1.5 / the sample stock of their figures: initial price
# S0 = 50 $/share, X = 10^6 shares, T = 5 days in N = 5 slices (tau = 1 day), and
#   sigma   = 0.95    $/share/day^(1/2): 30 % annual volatility, 0.3 * 50 / sqrt(250) = 0.9487
#   epsilon = 0.0625  $/share: half the 1/8 $ bid-ask spread
#   eta     = 2.5e-6  $/share/(share/day): trading 1 % of the 5 M shares daily volume
#                     (50,000 shares/day) costs one spread, (1/8) / 50,000
#   gamma   = 2.5e-7  $/share^2: 10 % of daily volume (500,000 shares) moves the price
#                     permanently by one spread, (1/8) / 500,000
PAPER = {
    "quantity": 1e6,
    "n_slices": 5,
    "tau": 1.0,
    "sigma": 0.95,
    "eta": 2.5e-6,
    "gamma": 2.5e-7,
    "epsilon": 0.0625,
}


def paper(risk_aversion: float) -> AlmgrenChrissSchedule:
    return almgren_chriss(**PAPER, risk_aversion=risk_aversion)


def test_paper_example_lambda_1e6_worked_by_hand() -> None:
    """The paper's sample stock with lambda = 1e-6 per $ (the risk aversion of its figure 1's
    tangent point), every step with its arithmetic:

    eta_tilde     = 2.5e-6 - 2.5e-7 * 1 / 2                = 2.375e-6
    kappa_tilde^2 = 1e-6 * 0.95^2 / 2.375e-6 = 0.9025 / 2.375 = 0.38
    cosh(kappa)   = 1 + 0.38 * 1^2 / 2                      = 1.19
    kappa         = ln(1.19 + sqrt(1.19^2 - 1)) = ln(1.19 + 0.6450581) = ln(1.8350581)
                  = 0.6070762 per day (half-life 1 / kappa = 1.6472 days)
    sinh(kappa * (5, 4, 3, 2, 1)) = 10.380422, 5.625727, 3.008809, 1.535238, 0.645058
    x_j = 1e6 * sinh(kappa (5 - j)) / 10.380422
        = 1,000,000, 541,955.55, 289,854.22, 147,897.49, 62,141.80, 0
    n_j = 458,044.45, 252,101.33, 141,956.73, 85,755.69, 62,141.80
    sum n_j^2 = 3.0472715e11, sum_{k>=1} x_k^2 = 4.0346656e11
    E = 2.5e-7 * 1e12 / 2 + 0.0625 * 1e6 + 2.375e-6 / 1 * 3.0472715e11
      = 125,000 + 62,500 + 723,727.0 = 911,227.0 $
    V = 0.95^2 * 1 * 4.0346656e11 = 3.6412857e11 $^2  (standard deviation 603,431 $)
    """
    ac = paper(1e-6)
    assert ac.eta_tilde == pytest.approx(2.375e-6, rel=1e-12)
    assert ac.kappa_tilde_squared == pytest.approx(0.38, rel=1e-12)
    assert ac.kappa == pytest.approx(0.6070762, rel=1e-6)
    assert ac.half_life == pytest.approx(1.6472, rel=1e-4)
    expected_x = [1e6, 541_955.55, 289_854.22, 147_897.49, 62_141.80, 0.0]
    np.testing.assert_allclose(ac.holdings, expected_x, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(
        ac.trades, [458_044.45, 252_101.33, 141_956.73, 85_755.69, 62_141.80], rtol=1e-7
    )
    assert ac.expected_cost == pytest.approx(911_227.0, rel=1e-6)
    assert ac.variance == pytest.approx(3.6412857e11, rel=1e-7)
    assert math.sqrt(ac.variance) == pytest.approx(603_431, rel=1e-6)


def test_paper_example_naive_strategy_lambda_0() -> None:
    """lambda = 0: the paper's naive strategy, selling 200,000 shares a day.

    E = 125,000 + 62,500 + 2.375e-6 / 1 * 5 * 200,000^2 = 125,000 + 62,500 + 475,000
      = 662,500 $
    V = 0.9025 * 1 * (800,000^2 + 600,000^2 + 400,000^2 + 200,000^2) = 0.9025 * 1.2e12
      = 1.083e12 $^2 (standard deviation 1.0407 M$)
    """
    ac = paper(0.0)
    assert ac.kappa == 0.0
    assert ac.half_life == math.inf
    np.testing.assert_array_equal(ac.trades, np.full(5, 200_000.0))
    assert ac.expected_cost == pytest.approx(662_500.0, rel=1e-12)
    assert ac.variance == pytest.approx(1.083e12, rel=1e-12)


def test_paper_example_lambda_2e6() -> None:
    """lambda = 2e-6 (the paper's figure 2, trajectory A): kappa_tilde^2 = 0.76,
    cosh(kappa) = 1.38, kappa = ln(1.38 + sqrt(1.38^2 - 1)) = ln(1.38 + 0.9510) = 0.846297."""
    ac = paper(2e-6)
    assert ac.kappa == pytest.approx(math.log(1.38 + math.sqrt(1.38**2 - 1.0)), rel=1e-12)
    assert ac.kappa == pytest.approx(0.846297, rel=1e-6)
    assert ac.trades[0] > paper(1e-6).trades[0]


def closed_form_e_v(ac: AlmgrenChrissSchedule) -> tuple[float, float]:
    """The paper's closed forms for the optimal strategy's E and V (kappa > 0):

    E = gamma X^2 / 2 + epsilon X + eta_tilde X^2 tanh(kappa tau / 2)
        (tau sinh(2 kappa T) + 2 T sinh(kappa tau)) / (2 tau^2 sinh^2(kappa T))
    V = sigma^2 X^2 / 2 (tau sinh(kappa T) cosh(kappa (T - tau)) - T sinh(kappa tau))
        / (sinh^2(kappa T) sinh(kappa tau))
    """
    x, k, tau, big_t = ac.quantity, ac.kappa, ac.tau, ac.horizon
    e = (ac.gamma * x**2 / 2 + ac.epsilon * x + ac.eta_tilde * x**2 * math.tanh(k * tau / 2)
         * (tau * math.sinh(2 * k * big_t) + 2 * big_t * math.sinh(k * tau))
         / (2 * tau**2 * math.sinh(k * big_t) ** 2))
    v = (ac.sigma**2 * x**2 / 2
         * (tau * math.sinh(k * big_t) * math.cosh(k * (big_t - tau)) - big_t * math.sinh(k * tau))
         / (math.sinh(k * big_t) ** 2 * math.sinh(k * tau)))
    return e, v


@pytest.mark.parametrize("risk_aversion", [1e-7, 1e-6, 2e-6, 1e-5])
def test_paper_example_matches_the_closed_forms(risk_aversion: float) -> None:
    ac = paper(risk_aversion)
    e, v = closed_form_e_v(ac)
    assert ac.expected_cost == pytest.approx(e, rel=1e-9)
    assert ac.variance == pytest.approx(v, rel=1e-9)


def direct_schedule(
    x: float, n: int, tau: float, sigma: float, eta: float, gamma: float, eps: float, lam: float
) -> tuple[list[float], float, float]:
    """Holdings, E and V evaluated term by term with math (no numpy, no shared helpers)."""
    eta_tilde = eta - gamma * tau / 2
    kappa = math.acosh(1 + lam * sigma**2 / eta_tilde * tau**2 / 2) / tau
    big_t = n * tau
    if kappa == 0.0:
        holdings = [x * (1 - j / n) for j in range(n + 1)]
    else:
        holdings = [math.sinh(kappa * (big_t - j * tau)) / math.sinh(kappa * big_t) * x
                    for j in range(n + 1)]
    trades = [holdings[j - 1] - holdings[j] for j in range(1, n + 1)]
    e = gamma * x**2 / 2
    for trade in trades:
        e += eps * abs(trade) + eta_tilde / tau * trade**2
    v = 0.0
    for k in range(1, n + 1):
        v += sigma**2 * tau * holdings[k] ** 2
    return holdings, e, v


@settings(max_examples=300, deadline=None)
@given(
    x=st.floats(1e-3, 1e7),
    n=st.integers(1, 60),
    tau=st.floats(1e-2, 1e3),
    sigma=st.floats(0.0, 1e3),
    eta=st.floats(1e-6, 1e3),
    gamma_share=st.floats(0.0, 0.99),
    eps=st.floats(0.0, 10.0),
    lam=st.floats(1e-9, 1e-2),
)
def test_matches_direct_evaluation_of_the_sums(
    x: float, n: int, tau: float, sigma: float, eta: float, gamma_share: float, eps: float,
    lam: float,
) -> None:
    gamma = gamma_share * 2 * eta / tau  # keeps eta_tilde > 0
    eta_tilde = eta - gamma * tau / 2
    # keep kappa T where math.sinh does not overflow and the acosh of the direct form is
    # accurate (it cancels when kappa_tilde tau is tiny)
    kt_tau = math.sqrt(lam * sigma**2 / eta_tilde) * tau
    assume(kt_tau == 0.0 or kt_tau > 1e-4)
    assume(2 * math.asinh(kt_tau / 2) * n < 300)
    ac = almgren_chriss(x, n, tau, sigma, eta, gamma, eps, lam)
    holdings, e, v = direct_schedule(x, n, tau, sigma, eta, gamma, eps, lam)
    np.testing.assert_allclose(ac.holdings, holdings, rtol=1e-9, atol=1e-9 * x)
    assert ac.expected_cost == pytest.approx(e, rel=1e-9, abs=1e-12)
    assert ac.variance == pytest.approx(v, rel=1e-9, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    x=st.floats(1e-6, 1e9),
    n=st.integers(1, 200),
    tau=st.floats(1e-3, 1e5),
    sigma=st.floats(0.0, 1e4),
    eta=st.floats(1e-9, 1e4),
    lam=st.floats(0.0, 1e3),
)
def test_holdings_monotone_from_x_to_zero_and_trades_sum(
    x: float, n: int, tau: float, sigma: float, eta: float, lam: float
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ac = almgren_chriss(x, n, tau, sigma, eta, 0.0, 0.01, lam)
    assert len(ac.holdings) == n + 1 and len(ac.trades) == n and len(ac.times) == n
    assert ac.holdings[0] == x and ac.holdings[-1] == 0.0
    assert np.all(np.isfinite(ac.holdings))
    assert np.all(np.diff(ac.holdings) <= 0.0)
    assert np.all(ac.trades >= 0.0)
    assert math.fsum(ac.trades) == pytest.approx(x, rel=1e-12)
    # a front-loaded (or flat) schedule: trades never increase
    assert np.all(np.diff(ac.trades) <= 1e-12 * x)
    np.testing.assert_allclose(ac.times, np.arange(n) * tau)


@settings(max_examples=200, deadline=None)
@given(low=st.floats(1e-8, 1e-5), factor=st.floats(1.5, 100.0))
def test_higher_risk_aversion_front_loads_lowers_v_raises_e(low: float, factor: float) -> None:
    slow, fast = paper(low), paper(low * factor)
    assert fast.kappa > slow.kappa
    assert fast.trades[0] > slow.trades[0]
    assert fast.variance < slow.variance
    assert fast.expected_cost > slow.expected_cost


def test_zero_risk_aversion_is_twap_even_with_volatility() -> None:
    ac = almgren_chriss(12.0, 4, 30.0, 8.0, 5.0, 0.0, 0.05, 0.0)
    np.testing.assert_allclose(ac.trades, twap_trades(12.0, 4))
    np.testing.assert_allclose(ac.holdings, [12.0, 9.0, 6.0, 3.0, 0.0])


def test_huge_kappa_does_not_overflow() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ac = almgren_chriss(100.0, 50, 60.0, 50.0, 1e-6, 0.0, 0.0, 10.0)
    assert ac.kappa * ac.horizon > 1000
    assert ac.trades[0] == pytest.approx(100.0)
    assert ac.holdings[-1] == 0.0


def test_result_is_frozen_and_read_only() -> None:
    ac = paper(1e-6)
    with pytest.raises(AttributeError):
        ac.kappa = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        ac.holdings[1] = 0.0


GOOD = {**PAPER, "risk_aversion": 1e-6}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", 0.0), ("quantity", -1.0), ("quantity", math.nan), ("quantity", math.inf),
        ("n_slices", 0), ("n_slices", 2.5), ("n_slices", True),
        ("tau", 0.0), ("tau", -1.0), ("tau", math.nan),
        ("sigma", -0.1), ("sigma", math.inf),
        ("eta", 0.0), ("eta", math.nan),
        ("gamma", -1e-9), ("gamma", math.nan),
        ("epsilon", -0.01), ("epsilon", math.inf),
        ("risk_aversion", -1e-6), ("risk_aversion", math.nan), ("risk_aversion", math.inf),
    ],
)
def test_bad_parameters_raise_naming_them(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        almgren_chriss(**{**GOOD, field: value})


def test_eta_tilde_must_be_positive() -> None:
    with pytest.raises(ValueError, match="eta"):
        almgren_chriss(**{**GOOD, "gamma": 1e-5})  # eta - gamma tau / 2 < 0


def test_twap_trades_are_equal() -> None:
    trades = twap_trades(10.0, 4)
    np.testing.assert_array_equal(trades, [2.5, 2.5, 2.5, 2.5])
    with pytest.raises(ValueError, match="quantity"):
        twap_trades(math.nan, 4)
    with pytest.raises(ValueError, match="n_slices"):
        twap_trades(1.0, 0)


def test_pov_keeps_participation_and_runs_as_long_as_needed() -> None:
    # 10 % of 2 base/s over 5 s = 1 base per child; 7.5 base -> 7 full children and 0.5
    pov = pov_schedule(7.5, 2.0, 0.10, 5.0)
    np.testing.assert_allclose(pov.trades, [1.0] * 7 + [0.5])
    np.testing.assert_allclose(pov.times, np.arange(8) * 5.0)
    assert pov.duration_s == 40.0
    assert math.fsum(pov.trades) == pytest.approx(7.5)
    assert np.all(pov.trades <= 0.10 * 2.0 * 5.0 * (1 + 1e-12))


@pytest.mark.parametrize(
    ("field", "args"),
    [
        ("quantity", (0.0, 1.0, 0.1, 1.0)),
        ("volume_rate_base_per_s", (1.0, math.nan, 0.1, 1.0)),
        ("participation", (1.0, 1.0, 1.5, 1.0)),
        ("participation", (1.0, 1.0, 0.0, 1.0)),
        ("interval_s", (1.0, 1.0, 0.1, -1.0)),
        ("interval_s", (1e9, 1.0, 0.1, 1.0)),
    ],
)
def test_pov_bad_input(field: str, args: tuple[float, float, float, float]) -> None:
    with pytest.raises(ValueError, match=field):
        pov_schedule(*args)
