"""Build the bundled evaluation set in `execsvc/evaluation/data/` from the shared raw data.

Run once by a developer (needs the `data` extra: pandas + pyarrow; the package itself does not):

    python scripts/build_evaluation_data.py [--source /work/shared/data] [--out DIR]

Output (the `execsvc evaluate --data` layout, one directory per coin, README "Your own data"
CSV format; byte-for-byte deterministic for the same input):

- `markets/<COIN>/candles.csv`: Binance USD-M hourly perp candles of BTC, ETH, SOL, HYPE, DOGE
  (`finm33150_multivenue/candles.parquet`, venue `binance`), `open_time` in epoch ms (the
  kline open), prices in USDT, volume in base units, from `CANDLES_FROM` to the last candle.
- `markets/<COIN>/open_interest.csv`: Hyperliquid hourly open interest of the coin
  (`open_interest.parquet`, venue `hyperliquid`, column `oi_usd` written as `oi_quote`), every
  sample up to the last candle's close.
- `markets/<COIN>/funding.csv`: Hyperliquid hourly funding of the coin (`funding_rates.parquet`,
  venue `hyperliquid`, `funding_rate` per hourly period written as `funding_rate_per_h`), from
  one day before the first candle (a full trailing day for the funding side split) to the last
  candle's close.
- `truth/hyperliquid_daily_2025-12.csv`: realised daily Hyperliquid liquidations, copied
  unchanged.
- `manifest.json`: inputs (sha256), rows, spans and gaps per coin, and the funding scale
  (`liqmap.funding.FUNDING_SCALE_PER_H`) recomputed from the funding before December.

Values are written with Python's shortest round-trip repr, so no number changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

HOUR_MS = 3_600_000
COINS = ("BTC", "ETH", "SOL", "HYPE", "DOGE")
CANDLES_FROM = "2025-11-16T00:00:00Z"
"""Three weeks of candles before the first open-interest sample (2025-12-07 11:00): room to
place the positions already open when the OI series starts (the model's stock, whose ages
decay with a half-life of days), while keeping the bundle near 1.6 MB."""
FUNDING_BASELINE_PER_H = 1.25e-5
SCALE_UNTIL = "2025-12-01T00:00:00Z"
"""The funding scale is measured on the funding series before this time (no evaluated day)."""
TRUTH_FILE = "liquidations/hyperliquid_daily_2025-12.csv"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/work/shared/data")
DEFAULT_OUT = REPO_ROOT / "execsvc" / "evaluation" / "data"
UPSTREAM = {
    "repository": "https://github.com/0xknxwledge/group-m-finm33150-final",
    "commit": "64385d37d0696b72f7e1b5f00051fd3b61fcfe69",
    "license": "Unlicense",
}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def epoch_ms(times: pd.Series) -> np.ndarray:
    return pd.to_datetime(times, utc=True).astype("datetime64[ms, UTC]").astype("int64").to_numpy()


def gaps(times_ms: np.ndarray) -> list[dict[str, object]]:
    """Holes in an hourly series: the last time before, the first after, steps missing."""
    step = np.diff(times_ms)
    return [
        {"after_ms": int(times_ms[k]), "before_ms": int(times_ms[k + 1]),
         "missing_hours": int(step[k] // HOUR_MS) - 1}
        for k in np.flatnonzero(step != HOUR_MS)
    ]


def write_csv(path: Path, header: str, rows: list[tuple]) -> None:
    lines = [header] + [",".join(repr(v) if isinstance(v, float) else str(v) for v in row)
                        for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def hyperliquid_funding(funding: pd.DataFrame, coin: str) -> tuple[np.ndarray, np.ndarray]:
    series = funding[(funding["venue"] == "hyperliquid") & (funding["coin"] == coin)]
    series = series.sort_values("timestamp", kind="stable")
    return epoch_ms(series["timestamp"]), series["funding_rate"].to_numpy(dtype=np.float64)


def funding_scale(funding: pd.DataFrame) -> dict[str, object]:
    """The pooled standard deviation over `COINS` of the 24-hour trailing mean of
    `funding - baseline`, on the hourly samples before `SCALE_UNTIL` (docs/evaluation.md, H1)."""
    until_ms = int(pd.Timestamp(SCALE_UNTIL).value // 1_000_000)
    means = []
    for coin in COINS:
        times, rates = hyperliquid_funding(funding, coin)
        keep = times < until_ms
        deviation = pd.Series(rates[keep] - FUNDING_BASELINE_PER_H)
        means.append(deviation.rolling(24).mean().dropna().to_numpy())
    pooled = np.concatenate(means)
    return {"funding_scale_per_h": float(np.std(pooled)), "samples": len(pooled),
            "before": SCALE_UNTIL, "baseline_per_h": FUNDING_BASELINE_PER_H}


def build_coin(candles: pd.DataFrame, oi: pd.DataFrame, funding: pd.DataFrame, coin: str,
               out: Path) -> dict:
    start_ms = int(pd.Timestamp(CANDLES_FROM).value // 1_000_000)
    frame = candles[(candles["venue"] == "binance") & (candles["coin"] == coin)]
    frame = frame.sort_values("timestamp", kind="stable")
    open_ms = epoch_ms(frame["timestamp"])
    keep = open_ms >= start_ms
    frame, open_ms = frame[keep], open_ms[keep]
    if np.any(np.diff(open_ms) <= 0):
        raise SystemExit(f"{coin}: candle times not strictly increasing")
    ohlcv = frame[["o", "h", "l", "c", "v"]].to_numpy(dtype=np.float64)
    end_ms = int(open_ms[-1]) + HOUR_MS
    series = oi[(oi["venue"] == "hyperliquid") & (oi["coin"] == coin)]
    series = series.sort_values("timestamp", kind="stable")
    oi_ms = epoch_ms(series["timestamp"])
    oi_usd = series["oi_usd"].to_numpy(dtype=np.float64)
    keep_oi = oi_ms <= end_ms
    oi_ms, oi_usd = oi_ms[keep_oi], oi_usd[keep_oi]
    directory = out / "markets" / coin
    directory.mkdir(parents=True, exist_ok=True)
    write_csv(directory / "candles.csv", "open_time,open,high,low,close,volume",
              [(int(t), *map(float, row)) for t, row in zip(open_ms, ohlcv, strict=True)])
    write_csv(directory / "open_interest.csv", "time,oi_quote",
              [(int(t), float(v)) for t, v in zip(oi_ms, oi_usd, strict=True)])
    funding_ms, rate = hyperliquid_funding(funding, coin)
    keep_funding = (funding_ms >= start_ms - 24 * HOUR_MS) & (funding_ms <= end_ms)
    funding_ms, rate = funding_ms[keep_funding], rate[keep_funding]
    write_csv(directory / "funding.csv", "time,funding_rate_per_h",
              [(int(t), float(v)) for t, v in zip(funding_ms, rate, strict=True)])
    return {
        "candles": len(open_ms), "candles_first_open_ms": int(open_ms[0]),
        "candles_last_open_ms": int(open_ms[-1]), "candle_gaps": gaps(open_ms),
        "open_interest_samples": len(oi_ms), "open_interest_first_ms": int(oi_ms[0]),
        "open_interest_last_ms": int(oi_ms[-1]), "open_interest_gaps": gaps(oi_ms),
        "funding_samples": len(funding_ms), "funding_first_ms": int(funding_ms[0]),
        "funding_last_ms": int(funding_ms[-1]), "funding_gaps": gaps(funding_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    candles_path = args.source / "finm33150_multivenue" / "candles.parquet"
    oi_path = args.source / "finm33150_multivenue" / "open_interest.parquet"
    funding_path = args.source / "finm33150_multivenue" / "funding_rates.parquet"
    candles, oi = pd.read_parquet(candles_path), pd.read_parquet(oi_path)
    funding = pd.read_parquet(funding_path)
    coins = {coin: build_coin(candles, oi, funding, coin, args.out) for coin in COINS}
    (args.out / "truth").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.source / TRUTH_FILE, args.out / "truth" / Path(TRUTH_FILE).name)
    manifest = {
        "built_by": "scripts/build_evaluation_data.py",
        "candles_from": CANDLES_FROM,
        "sources": [
            {**UPSTREAM, "path": "data/candles.parquet", "sha256": sha256_of(candles_path)},
            {**UPSTREAM, "path": "data/open_interest.parquet", "sha256": sha256_of(oi_path)},
            {**UPSTREAM, "path": "data/funding_rates.parquet", "sha256": sha256_of(funding_path)},
            {**UPSTREAM, "path": "data/liquidation_volume.parquet (rows 2025-12-07..31 as CSV)",
             "sha256_of_bundled_csv": sha256_of(args.source / TRUTH_FILE)},
        ],
        "coins": coins,
        "funding_scale": funding_scale(funding),
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for coin, entry in coins.items():
        print(coin, entry["candles"], "candles,", entry["open_interest_samples"], "OI samples,",
              len(entry["open_interest_gaps"]), "OI gap(s),", entry["funding_samples"],
              "funding samples,", len(entry["funding_gaps"]), "funding gap(s)")
    print("funding scale per hour:", manifest["funding_scale"]["funding_scale_per_h"])


if __name__ == "__main__":
    main()
