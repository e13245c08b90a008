"""Summary statistics of a market frame: what the realism tests and the benchmark compare.

They work on any canonical hourly frame (simulated or real); a statistic whose columns are
absent is NaN. "Large long squeeze" hours use the label's default definition downstream:
long liquidations in the hour >= ``oi_fraction`` of the open interest at the previous close.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LARGE_SQUEEZE_OI_FRACTION = 0.003


def _col(frame: pd.DataFrame, name: str) -> pd.Series | None:
    return frame[name] if name in frame.columns and frame[name].notna().any() else None


def hourly_returns(frame: pd.DataFrame) -> pd.Series:
    """Log returns of ``close`` between consecutive hours (gaps give no return)."""
    close = frame["close"].asfreq("1h")
    return np.log(close).diff().dropna()


def large_squeeze_hours(
    frame: pd.DataFrame, oi_fraction: float = LARGE_SQUEEZE_OI_FRACTION
) -> pd.Series:
    """True for hours whose long liquidations reach ``oi_fraction`` of the previous OI."""
    oi_before = frame["open_interest_usd"].shift(1)
    return (frame["long_liq_usd"] >= oi_fraction * oi_before)[oi_before.notna()]


def summary_stats(frame: pd.DataFrame) -> dict[str, float]:
    """Return, funding, basis, open-interest and liquidation statistics of an hourly frame."""
    out: dict[str, float] = {}
    r = hourly_returns(frame)
    out["hours"] = float(len(frame))
    out["return_std"] = float(r.std())
    out["annual_vol"] = float(r.std() * np.sqrt(24 * 365))
    out["return_excess_kurtosis"] = float(r.kurt())
    absr = r.abs().asfreq("1h")
    out["abs_return_acf_1h"] = float(absr.autocorr(1))
    out["abs_return_acf_24h"] = float(absr.autocorr(24))
    funding = _col(frame, "funding_rate")
    if funding is not None:
        for q in (0.05, 0.25, 0.5, 0.75, 0.95):
            out[f"funding_q{int(q * 100):02d}"] = float(funding.quantile(q))
        out["funding_share_positive"] = float((funding > 0).mean())
    index = _col(frame, "index_price")
    if index is not None:
        basis = (frame["close"] / index - 1) * 100
        for q in (0.05, 0.5, 0.95):
            out[f"basis_pct_q{int(q * 100):02d}"] = float(basis.quantile(q))
        out["basis_pct_std"] = float(basis.std())
    oi = _col(frame, "open_interest_usd")
    if oi is not None and funding is not None:
        growth = np.log(oi.asfreq("1h")).diff(24)
        out["corr_funding_oi_growth_24h"] = float(funding.asfreq("1h").corr(growth))
    longs = _col(frame, "long_liq_usd")
    if longs is not None and oi is not None:
        ranked = longs.sort_values(ascending=False)
        top = max(1, len(ranked) // 100)
        total = ranked.sum()
        out["long_liq_top1pct_share"] = (
            float(ranked.iloc[:top].sum() / total) if total > 0 else np.nan
        )
        out["large_squeeze_share"] = float(large_squeeze_hours(frame).mean())
    return out
