"""Trade schedules: Almgren-Chriss (2000) optimal execution, TWAP and percentage of volume.

Almgren and Chriss, "Optimal execution of portfolio transactions" (Journal of Risk 3(2), 2000),
discrete-time model. `X` base units are traded in `N` slices of length `tau` (time unit of the
caller; execsvc uses seconds), `T = N tau`, `t_j = j tau`. Holdings `x_0 = X, ..., x_N = 0`,
trades `n_j = x_{j-1} - x_j` (traded during the j-th interval). Prices follow an arithmetic
random walk with volatility `sigma` (quote per base per sqrt(time)); a trade of `n` in one
interval pays the linear temporary impact `epsilon sgn(n) + eta n / tau` (quote per base) and
moves the price permanently by `gamma n` (quote per base).

With risk aversion `lambda` (per quote unit) the schedule minimising `E + lambda V` is

    eta_tilde      = eta - gamma tau / 2                       (must be > 0)
    kappa_tilde^2  = lambda sigma^2 / eta_tilde
    kappa            solves  2 / tau^2 (cosh(kappa tau) - 1) = kappa_tilde^2,
                     i.e.    kappa = arccosh(1 + kappa_tilde^2 tau^2 / 2) / tau
                                   = 2 asinh(kappa_tilde tau / 2) / tau   (same, no cancellation)
    x_j            = sinh(kappa (T - t_j)) / sinh(kappa T) X
    E              = gamma X^2 / 2 + epsilon sum_k |n_k| + eta_tilde / tau sum_k n_k^2   (quote)
    V              = sigma^2 sum_{k=1..N} tau x_k^2                                       (quote^2)

`lambda = 0` gives `kappa = 0`, whose limit is the straight line `x_j = X (1 - j / N)` (TWAP).
The ratio of sinh is evaluated as `exp(a - b) expm1(-2a) / expm1(-2b)` so a large `kappa T`
cannot overflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Below this kappa T the sinh ratio equals the straight line to a relative (kappa T)^2 / 6 <
# 2e-25, so the TWAP limit is used directly.
_LINEAR_KAPPA_T = 1e-12
# A POV schedule longer than this is refused (a longer interval gives the same participation).
MAX_POV_CHILDREN = 100_000


@dataclass(frozen=True, slots=True)
class AlmgrenChrissSchedule:
    """The Almgren-Chriss optimal schedule and its cost statistics.

    `holdings` has `n_slices + 1` values from `quantity` to 0 and `trades` `n_slices` values
    (base units), `times` the interval starts `t_0 .. t_{N-1}` at which each trade begins
    (time unit of `tau`). `kappa` is per time unit, `expected_cost` quote units and `variance`
    quote^2 (the paper's E and V). Arrays are read-only.
    """

    quantity: float
    n_slices: int
    tau: float
    sigma: float
    eta: float
    gamma: float
    epsilon: float
    risk_aversion: float
    eta_tilde: float
    kappa_tilde_squared: float
    kappa: float
    holdings: np.ndarray
    trades: np.ndarray
    times: np.ndarray
    expected_cost: float
    variance: float

    @property
    def horizon(self) -> float:
        """T = n_slices * tau."""
        return self.n_slices * self.tau

    @property
    def half_life(self) -> float:
        """The paper's half-life of the trade, 1 / kappa (inf in the TWAP limit)."""
        return math.inf if self.kappa == 0.0 else 1.0 / self.kappa


def _finite(name: str, value: float, *, positive: bool) -> float:
    """`value` as a float, finite and > 0 (`positive`) or >= 0; ValueError naming `name`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and number <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if not positive and number < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def _slice_count(n_slices: int) -> int:
    """`n_slices` as an int >= 1 (bools and non-integral numbers refused)."""
    if isinstance(n_slices, bool) or not isinstance(n_slices, int | np.integer):
        raise ValueError(f"n_slices must be an integer >= 1, got {n_slices!r}")
    if int(n_slices) < 1:
        raise ValueError(f"n_slices must be an integer >= 1, got {n_slices!r}")
    return int(n_slices)


def _read_only(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def ac_kappa(kappa_tilde_squared: float, tau: float) -> float:
    """kappa with `2 / tau^2 (cosh(kappa tau) - 1) = kappa_tilde^2`.

    Uses `cosh(2y) - 1 = 2 sinh(y)^2`: `kappa = 2 asinh(tau sqrt(kappa_tilde^2) / 2) / tau`,
    equal to `arccosh(1 + kappa_tilde^2 tau^2 / 2) / tau` without its cancellation near 0.
    """
    return 2.0 * math.asinh(tau * math.sqrt(kappa_tilde_squared) / 2.0) / tau


def ac_holdings(quantity: float, n_slices: int, kappa: float, tau: float) -> np.ndarray:
    """x_j = sinh(kappa (T - t_j)) / sinh(kappa T) X for j = 0..N (X (1 - j/N) when kappa = 0).

    x_0 = X and x_N = 0 exactly. The ratio is `exp(a - b) expm1(-2a) / expm1(-2b)` with
    `a = kappa (T - t_j)`, `b = kappa T`, which never overflows.
    """
    steps = np.arange(n_slices + 1, dtype=np.float64)
    b = kappa * tau * n_slices
    if b < _LINEAR_KAPPA_T:
        fraction = (n_slices - steps) / n_slices
    else:
        a = kappa * tau * (n_slices - steps)
        fraction = np.exp(a - b) * np.expm1(-2.0 * a) / math.expm1(-2.0 * b)
    holdings = quantity * fraction
    holdings[0], holdings[-1] = quantity, 0.0
    return holdings


def ac_expected_cost(
    quantity: float, trades: np.ndarray, tau: float, gamma: float, epsilon: float,
    eta_tilde: float,
) -> float:
    """E = gamma X^2 / 2 + epsilon sum |n_k| + eta_tilde / tau sum n_k^2 (quote units)."""
    return float(
        gamma * quantity**2 / 2.0
        + epsilon * np.sum(np.abs(trades))
        + eta_tilde / tau * np.sum(trades**2)
    )


def ac_variance(holdings: np.ndarray, tau: float, sigma: float) -> float:
    """V = sigma^2 sum_{k=1..N} tau x_k^2 (quote^2)."""
    return float(sigma**2 * tau * np.sum(holdings[1:] ** 2))


def almgren_chriss(
    quantity: float,
    n_slices: int,
    tau: float,
    sigma: float,
    eta: float,
    gamma: float,
    epsilon: float,
    risk_aversion: float,
) -> AlmgrenChrissSchedule:
    """The Almgren-Chriss (2000) discrete optimal schedule (formulas in the module docstring).

    Units: `quantity` base; `tau` the slice length (time unit u, seconds in execsvc); `sigma`
    quote per base per sqrt(u); `eta` quote per base per (base per u); `gamma` quote per base
    per base; `epsilon` quote per base; `risk_aversion` per quote unit. Raises ValueError naming
    the parameter when a value is NaN, infinite, out of range (quantity, tau, eta > 0; sigma,
    gamma, epsilon, risk_aversion >= 0; n_slices an integer >= 1) or when
    `eta_tilde = eta - gamma tau / 2` is not positive.
    """
    x = _finite("quantity", quantity, positive=True)
    n = _slice_count(n_slices)
    step = _finite("tau", tau, positive=True)
    vol = _finite("sigma", sigma, positive=False)
    temp = _finite("eta", eta, positive=True)
    perm = _finite("gamma", gamma, positive=False)
    eps = _finite("epsilon", epsilon, positive=False)
    lam = _finite("risk_aversion", risk_aversion, positive=False)
    eta_tilde = temp - perm * step / 2.0
    if eta_tilde <= 0.0:
        raise ValueError(
            f"eta must exceed gamma * tau / 2 (eta_tilde = {eta_tilde!r} <= 0); got eta={eta!r}"
        )
    kt2 = lam * vol**2 / eta_tilde
    kappa = ac_kappa(kt2, step)
    holdings = ac_holdings(x, n, kappa, step)
    trades = holdings[:-1] - holdings[1:]
    return AlmgrenChrissSchedule(
        quantity=x,
        n_slices=n,
        tau=step,
        sigma=vol,
        eta=temp,
        gamma=perm,
        epsilon=eps,
        risk_aversion=lam,
        eta_tilde=eta_tilde,
        kappa_tilde_squared=kt2,
        kappa=kappa,
        holdings=_read_only(holdings),
        trades=_read_only(trades),
        times=_read_only(np.arange(n, dtype=np.float64) * step),
        expected_cost=ac_expected_cost(x, trades, step, perm, eps, eta_tilde),
        variance=ac_variance(holdings, step, vol),
    )


def twap_trades(quantity: float, n_slices: int) -> np.ndarray:
    """TWAP: `n_slices` equal trades of `quantity / n_slices` base units, one per interval."""
    x = _finite("quantity", quantity, positive=True)
    n = _slice_count(n_slices)
    return np.full(n, x / n)


@dataclass(frozen=True, slots=True)
class PovSchedule:
    """A percentage-of-volume schedule: `trades` (base) starting at `times` (seconds).

    Every full child is `participation * volume_rate * interval_s`; the last one holds the
    rest. `duration_s = len(trades) * interval_s` is how long the schedule runs.
    """

    trades: np.ndarray
    times: np.ndarray
    interval_s: float
    participation: float
    volume_rate_base_per_s: float

    @property
    def duration_s(self) -> float:
        return len(self.trades) * self.interval_s


def pov_schedule(
    quantity: float,
    volume_rate_base_per_s: float,
    participation: float,
    interval_s: float,
) -> PovSchedule:
    """Trade `participation` of the market volume each `interval_s` seconds until done.

    Full child `c = participation * volume_rate_base_per_s * interval_s` (base units); the
    number of children is `ceil(quantity / c)` (the last one takes the remainder), so the
    participation in every interval is at most `participation`. The schedule runs for as long
    as that takes, whatever the caller's horizon. ValueError naming the parameter on NaN, inf,
    `quantity`, `volume_rate_base_per_s` or `interval_s` <= 0, `participation` outside (0, 1], or
    more than `MAX_POV_CHILDREN` children.
    """
    x = _finite("quantity", quantity, positive=True)
    rate = _finite("volume_rate_base_per_s", volume_rate_base_per_s, positive=True)
    share = _finite("participation", participation, positive=True)
    if share > 1.0:
        raise ValueError(f"participation must be in (0, 1], got {participation!r}")
    step = _finite("interval_s", interval_s, positive=True)
    child = share * rate * step
    count = max(1, math.ceil(x / child - 1e-12))
    if count > MAX_POV_CHILDREN:
        raise ValueError(
            f"interval_s={interval_s!r} needs {count} children (> {MAX_POV_CHILDREN}); "
            "use a longer interval_s"
        )
    trades = np.full(count, child)
    trades[-1] = x - child * (count - 1)
    return PovSchedule(
        trades=_read_only(trades),
        times=_read_only(np.arange(count, dtype=np.float64) * step),
        interval_s=step,
        participation=share,
        volume_rate_base_per_s=rate,
    )
