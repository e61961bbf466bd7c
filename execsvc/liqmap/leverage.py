"""The leverage mix a map assumes, after the venue's cap and the cross-margin share.

- **Venue cap**: a venue refuses leverage above its maximum for the position's notional
  (Hyperliquid: 40x BTC, 25x ETH, 20x SOL, 10x HYPE/DOGE; `venues`). Weight the configured mix
  puts above the cap is moved to the cap.
- **Cross margin**: a cross position is backed by the account's whole free collateral, so it is
  liquidated further away than the isolated price at its leverage. A share `cross_share` of
  every leverage's notional is modelled as cross with `cross_margin_multiple` times the initial
  margin behind it, i.e. at the isolated-equivalent leverage `L / cross_margin_multiple`
  (at least 1x).

The result maps isolated-equivalent leverage to weight (summing to 1): the map prices every
group with the isolated formula at that leverage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def effective_leverage_mix(
    mix: Mapping[float, float],
    max_leverage: float = math.inf,
    cross_share: float = 0.0,
    cross_margin_multiple: float = 2.0,
) -> dict[float, float]:
    """Isolated-equivalent leverage -> weight (normalised); see the module docstring."""
    if not 0.0 <= cross_share <= 1.0:
        raise ValueError(f"cross_share must be in [0, 1], got {cross_share}")
    if cross_margin_multiple < 1.0:
        raise ValueError(f"cross_margin_multiple must be >= 1, got {cross_margin_multiple}")
    total = sum(mix.values())
    if total <= 0:
        raise ValueError("the leverage mix has no weight")
    out: dict[float, float] = {}
    for leverage, weight in mix.items():
        capped = float(min(leverage, max_leverage))
        parts = ((capped, 1.0 - cross_share),
                 (max(1.0, capped / cross_margin_multiple), cross_share))
        for lev, share in parts:
            if share > 0.0 and weight > 0.0:
                out[lev] = out.get(lev, 0.0) + weight * share / total
    return dict(sorted(out.items()))
