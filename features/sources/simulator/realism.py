"""Stylised facts of a perpetual market, and whether the simulator reproduces the real ones.

The simulator is only worth training on if its hours look like real hours where it matters:
fat tails and clustered volatility, small mostly-flat funding, open interest that moves on
its own, a steady drizzle of small long liquidations with rare large ones, and above all the
*hazard* of a flush: in real hourly data it rises with ongoing liquidations and drawdowns,
not with rich funding or open-interest build-up. :func:`stylised_facts` measures every fact
of the simulator's realism issue on any canonical frame (simulated or real; coarser than
hourly is refused, finer is resampled); a fact whose columns the frame lacks is reported as
unsupported, never guessed. :data:`FACTS` holds the band a simulator must hit, set so that
every real reference of :data:`REFERENCES` passes.

Definitions (all on the hourly grid; a gap gives no value, never a filled one):

- returns are log close-to-close between consecutive hours;
- 24 h OI growth is ``log(OI_t / OI_{t-24})``; the 1 h OI change in coins is the hourly
  change of ``log(OI_t / close_t)`` (open interest with the price move taken out);
- liq / OI is the hour's long liquidations over the open interest at the previous close;
- the $5M-equivalent share counts hours whose long liquidations reach :data:`USD_LIQ_OI`
  (0.064 %) of the frame's own median open interest: $5M on real BTC, the same size on any
  market; the long/short liquidation ratio is total long over total short liquidations;
- a *flush* is an hour whose liq / OI reaches the frame's own 94th percentile (0.068 % of OI
  on the real development set); the hazard ratio of a signal is P(flush in the next hour | signal
  in its top decile) / P(flush in the next hour), with a 90 % moving-block bootstrap CI
  (blocks of 48 h, so clustered flushes are resampled together).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.bars import infer_bar
from features.errors import DataError

FLUSH_QUANTILE = 0.94
TOP_DECILE = 0.9
HILL_TOP_SHARE = 0.02
LARGE_LIQ_OI = 0.003
BOOT_BLOCK_HOURS = 48
BOOT_REPS = 300
CI_LEVEL = 0.90
MIN_FLUSHES = 10  # fewer flushes than this give no hazard ratio (a ratio of 1 or 2 events)


@dataclass(frozen=True)
class Fact:
    """One stylised fact: how it is shown, what it needs, and what real markets show."""

    key: str
    label: str
    fmt: str  # format of a value (already scaled by ``scale``)
    scale: float  # displayed value = raw value * scale
    needs: tuple[str, ...]  # canonical columns the fact needs
    lo: float  # the band a simulator must hit (displayed units)
    hi: float
    real: str  # the real figures of the issue, as text
    hazard: bool = False


def _f(key, label, fmt, scale, needs, lo, hi, real, hazard=False) -> Fact:
    return Fact(key, label, fmt, scale, tuple(needs), lo, hi, real, hazard)


_LIQ = ("long_liq_usd", "open_interest_usd")
# $5M of long liquidations in an hour on real BTC (the real evaluation's label), as a share of
# the real development set's median open interest ($7.81B): the same *size* on any market.
USD_LIQ_OI = 5e6 / 7.814e9

# Bands: every real reference of :data:`REFERENCES` passes; each is widened by about the
# sampling error of one ~4,000-hour set (our judgement, stated in the docs). The facts whose
# sampling error is large (kurtosis, the funding/OI correlation and the hazard ratios) take
# the union of the references' 90 % moving-block bootstrap CIs (48 h blocks; kurtosis
# 5.4-8.6 on Coinglass, 8.2-49 on OKX; correlation 0.09-0.30 and -0.07-0.07), so that one
# lucky seed cannot pass and a faithful simulator does not fail on noise. The account ratio has no
# real column in the shared sets: its band is the range exchanges publish for BTC (issue 19).
FACTS: tuple[Fact, ...] = (
    _f("kurtosis", "return excess kurtosis", "{:.1f}", 1, ["close"], 5.4, 49.0, "refs CI"),
    _f("abs_acf_24h", "|return| autocorr 24 h", "{:.3f}", 1, ["close"], 0.10, 0.22, "refs"),
    _f("funding_median_bp", "funding/8h median (bp)", "{:.2f}", 1e4, ["funding_rate"],
       0.20, 0.65, "refs"),
    _f("funding_q95_bp", "funding/8h p95 (bp)", "{:.2f}", 1e4, ["funding_rate"],
       0.8, 1.25, "refs"),
    _f("corr_funding_oi", "corr(funding, OI growth)", "{:.3f}", 1,
       ["funding_rate", "open_interest_usd"], -0.10, 0.30, "refs CI"),
    _f("oi_growth_sd_pct", "24 h OI growth sd (%)", "{:.2f}", 100, ["open_interest_usd"],
       2.9, 5.5, "refs"),
    _f("oi_coin_1h_sd_pct", "1 h OI churn, coins (%)", "{:.2f}", 100,
       ["open_interest_usd", "close"], 0.40, 0.90, "refs"),
    _f("zero_liq_share_pct", "hours, no long liq (%)", "{:.1f}", 100,
       ["long_liq_usd"], 0.0, 5.0, "refs"),
    _f("liq_oi_median_bp", "long liq/OI median (bp)", "{:.3f}", 1e4, _LIQ, 0.07, 0.28, "refs"),
    _f("liq_oi_q99_bp", "long liq/OI p99 (bp)", "{:.1f}", 1e4, _LIQ, 20.0, 50.0, "refs"),
    _f("hill_alpha", "Hill tail of long liq", "{:.2f}", 1,
       ["long_liq_usd"], 1.1, 1.6, "refs"),
    _f("large_liq_share_pct", "hours, liq >= 0.3% OI (%)", "{:.2f}", 100, _LIQ,
       0.6, 1.6, "refs"),
    _f("usd_liq_share_pct", "hours, liq >= $5M-eq (%)", "{:.1f}", 100, _LIQ,
       4.0, 8.5, "refs"),
    _f("liq_ratio_ls", "long/short liquidations", "{:.2f}", 1,
       ["long_liq_usd", "short_liq_usd"], 1.0, 2.2, "refs"),
    _f("account_ratio_p01", "long/short accts p1", "{:.2f}", 1, ["long_short_ratio"],
       0.4, 1.2, "exchange range 0.5-3"),
    _f("account_ratio_p99", "long/short accts p99", "{:.2f}", 1, ["long_short_ratio"],
       1.2, 3.2, "exchange range 0.5-3"),
    _f("hr_funding", "flush HR: funding", "{:.2f}", 1,
       ["funding_rate", *_LIQ], 0.35, 1.52, "refs", True),
    _f("hr_oi_growth", "flush HR: OI growth", "{:.2f}", 1, _LIQ, 0.33, 0.91, "refs", True),
    _f("hr_above_low", "flush HR: above 24 h low", "{:.2f}", 1,
       ["close", "low", *_LIQ], 0.32, 1.04, "refs", True),
    _f("hr_last_liq", "flush HR: last-hour liq", "{:.2f}", 1, _LIQ, 3.1, 4.87, "refs", True),
)
# The real references the bands are set from: every real data set the project has, measured
# by :func:`stylised_facts` (``benchmarks/bench_simulator.py --references`` measures them
# again from ../shared/data and says if a figure moved; the package never reads that folder).
# value, or (value, 90 % CI low, high) for a hazard ratio. "Coinglass dev" is
# coinglass_btc_1h_dev.csv (BTC hourly with liquidations, 2025-12-04..2026-03-24, 2,653 h);
# "OKX 1h" is okx_btc_usd_swap_1h.csv (BTC-USD-SWAP hourly, no liquidations, 6,406 h).
REFERENCES: dict[str, dict[str, float | tuple[float, float, float]]] = {
    "Coinglass dev": {
        "kurtosis": 6.91, "abs_acf_24h": 0.205, "funding_median_bp": 0.274,
        "funding_q95_bp": 1.0, "corr_funding_oi": 0.187, "oi_growth_sd_pct": 4.35,
        "oi_coin_1h_sd_pct": 0.545,
        "zero_liq_share_pct": 2.15, "liq_oi_median_bp": 0.174, "liq_oi_q99_bp": 31.4,
        "hill_alpha": 1.28, "large_liq_share_pct": 1.06, "usd_liq_share_pct": 5.99,
        "liq_ratio_ls": 1.58,
        "hr_funding": (0.69, 0.35, 1.03), "hr_oi_growth": (0.57, 0.33, 0.85),
        "hr_above_low": (0.59, 0.33, 1.04), "hr_last_liq": (3.89, 3.12, 4.79),
    },
    "OKX 1h": {
        "kurtosis": 25.6, "abs_acf_24h": 0.117, "funding_median_bp": 0.621,
        "funding_q95_bp": 1.0, "corr_funding_oi": 0.007, "oi_growth_sd_pct": 3.15,
        "oi_coin_1h_sd_pct": 0.683,
    },
}
# The real month-to-month spread of a USD label's base rate: the $5M label on the Coinglass dev
# set, coefficient of variation over its four months (0.35). A CV measured on four months
# has a sampling error of about 0.14, so a simulated year passes up to 0.50.
REAL_MONTHLY_CV = 0.35
MONTHLY_CV_MAX = 0.50


def reference_facts() -> list[Facts]:
    """The built-in real references as :class:`Facts` (facts they lack are marked so)."""
    out = []
    for name, figures in REFERENCES.items():
        facts = Facts(name)
        for f in FACTS:
            got = figures.get(f.key)
            if got is None:
                facts.values[f.key] = FactValue(missing="not in this set")
            elif isinstance(got, tuple):
                facts.values[f.key] = FactValue(got[0], (got[1], got[2]))
            else:
                facts.values[f.key] = FactValue(float(got))
        out.append(facts)
    return out


FACT_KEYS: tuple[str, ...] = tuple(f.key for f in FACTS)
_BY_KEY = {f.key: f for f in FACTS}


@dataclass(frozen=True)
class FactValue:
    """A measured fact in display units: value, optional CI, or why it could not be measured."""

    value: float = math.nan
    ci: tuple[float, float] | None = None
    missing: str | None = None

    @property
    def ok(self) -> bool:
        return self.missing is None and math.isfinite(self.value)


@dataclass
class Facts:
    """Every fact of one frame, keyed like :data:`FACTS`."""

    name: str
    values: dict[str, FactValue] = field(default_factory=dict)

    def value(self, key: str) -> float:
        v = self.values.get(key)
        return v.value if v is not None and v.ok else math.nan

    def supported(self) -> list[str]:
        return [k for k in FACT_KEYS if k in self.values and self.values[k].ok]


def hourly_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame on a complete hourly grid (gaps become NaN rows), resampled if finer."""
    from features.store import resample

    if len(frame) < 2:
        raise DataError("a realism report needs at least 2 bars")
    step = infer_bar(frame.index)
    if step > pd.Timedelta(hours=1):
        raise DataError(f"a realism report needs hourly or finer bars, got {step}")
    if step < pd.Timedelta(hours=1):
        frame = resample(frame, "1h", _bar_text(step))
    return frame.asfreq("1h")


def _bar_text(step: pd.Timedelta) -> str:
    from features.bars import bar_name

    return bar_name(step)


def _has(frame: pd.DataFrame, columns: Iterable[str]) -> str | None:
    absent = [c for c in columns if c not in frame.columns or not frame[c].notna().any()]
    return None if not absent else "no " + ", ".join(absent)


def _hill(x: np.ndarray, share: float = HILL_TOP_SHARE) -> float:
    x = np.sort(x[np.isfinite(x) & (x > 0)])[::-1]
    k = int(share * len(x))
    if k < 5:
        return math.nan
    logs = np.log(x[: k + 1])
    return float(1.0 / np.mean(logs[:k] - logs[k]))


def _block_indices(n: int, reps: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """Moving-block bootstrap: ``reps`` rows of ``n`` indices made of consecutive blocks."""
    block = max(1, min(block, n))
    n_blocks = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(reps, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(reps, -1)
    return idx[:, :n]


def hazard_ratio(
    signal: pd.Series,
    flush_next: pd.Series,
    reps: int = BOOT_REPS,
    seed: int = 0,
) -> FactValue:
    """P(flush next hour | signal in top decile) / P(flush next hour), with a block-bootstrap CI."""
    ok = signal.notna() & flush_next.notna()
    s = signal[ok].to_numpy(float)
    y = flush_next[ok].to_numpy(float)
    if y.sum() < MIN_FLUSHES or len(y) < 200:
        return FactValue(missing=f"too few flushes ({int(y.sum())}) or hours ({len(y)})")
    top = (s >= np.quantile(s, TOP_DECILE)).astype(float)
    base = y.mean()
    value = float((y * top).sum() / top.sum() / base)
    if reps <= 0:
        return FactValue(value)
    idx = _block_indices(len(y), reps, BOOT_BLOCK_HOURS, np.random.default_rng(seed))
    yb, tb = y[idx], top[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = ((yb * tb).sum(1) / tb.sum(1)) / yb.mean(1)
    ratios = ratios[np.isfinite(ratios)]
    alpha = (1 - CI_LEVEL) / 2
    ci = (float(np.quantile(ratios, alpha)), float(np.quantile(ratios, 1 - alpha)))
    return FactValue(value, ci)


def stylised_facts(
    frame: pd.DataFrame, name: str = "frame", reps: int = BOOT_REPS, seed: int = 0
) -> Facts:
    """Every fact of :data:`FACTS` on a canonical frame (hourly or finer), in display units.

    ``reps`` bootstrap replicates give the hazard ratios' CIs (0: no CI, faster, for fitting).
    """
    h = hourly_frame(frame)
    raw: dict[str, float | FactValue] = {}
    r = np.log(h["close"]).diff()
    raw["kurtosis"] = float(r.kurt())
    raw["abs_acf_24h"] = float(r.abs().autocorr(24))
    if _has(h, ["funding_rate"]) is None:
        funding = h["funding_rate"]
        raw["funding_median_bp"] = float(funding.median())
        raw["funding_q95_bp"] = float(funding.quantile(0.95))
    oi_growth = None
    if _has(h, ["open_interest_usd"]) is None:
        oi = h["open_interest_usd"].where(h["open_interest_usd"] > 0)
        oi_growth = np.log(oi).diff(24)
        raw["oi_growth_sd_pct"] = float(oi_growth.std())
        if _has(h, ["funding_rate"]) is None:
            raw["corr_funding_oi"] = float(h["funding_rate"].corr(oi_growth))
        # the hour-to-hour churn of open interest in coins (price moves taken out): real OI
        # moves every hour for reasons of its own, so an OI drop is weak evidence of a flush
        raw["oi_coin_1h_sd_pct"] = float(np.log(oi / h["close"]).diff().std())
    if _has(h, ["long_liq_usd"]) is None:
        liq = h["long_liq_usd"]
        raw["zero_liq_share_pct"] = float((liq[liq.notna()] <= 0).mean())
        raw["hill_alpha"] = _hill(liq.to_numpy(float))
    if _has(h, ["long_liq_usd", "short_liq_usd"]) is None:
        shorts = h["short_liq_usd"].sum()
        raw["liq_ratio_ls"] = float(h["long_liq_usd"].sum() / shorts) if shorts > 0 else math.nan
    if _has(h, ["long_short_ratio"]) is None:
        raw["account_ratio_p01"] = float(h["long_short_ratio"].quantile(0.01))
        raw["account_ratio_p99"] = float(h["long_short_ratio"].quantile(0.99))
    if _has(h, _LIQ) is None and oi_growth is not None:
        liq_oi = h["long_liq_usd"] / h["open_interest_usd"].shift(1)
        liq_oi = liq_oi.where(np.isfinite(liq_oi))
        raw["liq_oi_median_bp"] = float(liq_oi.median())
        raw["liq_oi_q99_bp"] = float(liq_oi.quantile(0.99))
        raw["large_liq_share_pct"] = float((liq_oi[liq_oi.notna()] >= LARGE_LIQ_OI).mean())
        usd = USD_LIQ_OI * h["open_interest_usd"].median()
        raw["usd_liq_share_pct"] = float((h["long_liq_usd"].dropna() >= usd).mean())
        flush = (liq_oi >= liq_oi.quantile(FLUSH_QUANTILE)).astype(float).where(liq_oi.notna())
        flush_next = flush.shift(-1)
        signals: dict[str, pd.Series] = {"hr_oi_growth": oi_growth, "hr_last_liq": liq_oi}
        if _has(h, ["funding_rate"]) is None:
            signals["hr_funding"] = h["funding_rate"]
        if _has(h, ["low"]) is None:
            low24 = np.log(h["low"]).rolling(24, min_periods=24).min()
            signals["hr_above_low"] = np.log(h["close"]) - low24
        for key, signal in signals.items():
            raw[key] = hazard_ratio(signal, flush_next, reps=reps, seed=seed)

    out = Facts(name)
    for fact in FACTS:
        missing = _has(h, fact.needs)
        got = raw.get(fact.key)
        if missing is not None:
            out.values[fact.key] = FactValue(missing=missing)
        elif isinstance(got, FactValue):
            ci = None if got.ci is None else (got.ci[0] * fact.scale, got.ci[1] * fact.scale)
            out.values[fact.key] = FactValue(got.value * fact.scale, ci, got.missing)
        elif got is None or not math.isfinite(got):
            out.values[fact.key] = FactValue(missing="too little data")
        else:
            out.values[fact.key] = FactValue(got * fact.scale)
    return out


def mean_facts(runs: Sequence[Facts], name: str) -> Facts:
    """The mean of each fact over several runs (seeds), with the runs' min-max as its range."""
    out = Facts(name)
    for key in FACT_KEYS:
        vals = [r.value(key) for r in runs]
        finite = [v for v in vals if math.isfinite(v)]
        if not finite:
            reasons = {r.values[key].missing for r in runs if key in r.values}
            out.values[key] = FactValue(missing=next(iter(reasons - {None}), "no value"))
        else:
            out.values[key] = FactValue(float(np.mean(finite)), (min(finite), max(finite)))
    return out


def passes(key: str, value: float) -> bool:
    """Whether a value (display units) falls in the fact's band."""
    fact = _BY_KEY[key]
    return math.isfinite(value) and fact.lo <= value <= fact.hi


def fact(key: str) -> Fact:
    return _BY_KEY[key]
