"""Does a simulated year look like a crypto perpetual market, and are its flushes learnable?

One year of hourly BTC on each of three presets, simulated once per session (about a second
each). The thresholds are the realism targets of the simulator's issue; the share of large
squeezes uses the downstream label (long liquidations in the hour >= 0.3 % of OI).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.sources.simulator import large_squeeze_hours, simulate, summary_stats
from features.sources.simulator.config import DEFAULT
from features.sources.simulator.report import REPORT_SEEDS, failing, simulated_facts
from features.sources.simulator.stats import hourly_returns


@pytest.fixture(scope="session")
def years() -> dict[str, pd.DataFrame]:
    return {
        p: simulate("BTC", days=365, bar="1h", seed=7, preset=p)
        for p in ("default", "calm", "crash-prone")
    }


@pytest.fixture(scope="session")
def year(years) -> pd.DataFrame:
    return years["default"]


def test_hourly_returns_are_fat_tailed(year):
    assert hourly_returns(year).kurt() > 3


def test_volatility_clusters_for_a_day(year):
    absr = hourly_returns(year).abs()
    acf = np.array([absr.autocorr(lag) for lag in range(1, 25)])
    assert (acf > 0.02).all(), acf.round(3)
    assert acf[:6].mean() > 0.1
    assert acf[23] > 0.05  # the daily cycle: the same hour tomorrow (0.12-0.19 in real data)


def test_btc_volatility_is_btc_like(year):
    assert 0.3 < summary_stats(year)["annual_vol"] < 0.9


def test_funding_is_small_and_mostly_flat(year):
    """Anchored to a mostly flat premium: at or below the 0.01 % interest rate most hours."""
    median = year["funding_rate"].median()
    assert 0 <= median <= 1e-4
    assert year["funding_rate"].quantile(0.95) <= 1.5e-4


def test_funding_does_not_follow_open_interest_growth(year):
    """Real hourly data: corr(funding, 24 h OI growth) is about 0 (0.007 on OKX)."""
    assert abs(summary_stats(year)["corr_funding_oi_growth_24h"]) < 0.3


def test_some_long_is_liquidated_nearly_every_hour(year):
    """A steady background of small liquidations, as real hourly data shows (2.4 % zero hours)."""
    assert (year["long_liq_usd"] <= 0).mean() < 0.1


def test_long_liquidations_are_heavy_tailed(year):
    assert summary_stats(year)["long_liq_top1pct_share"] > 0.30


def test_large_long_liquidation_hours_are_price_and_oi_drops(year):
    big = large_squeeze_hours(year)
    ret = np.log(year["close"]).diff().reindex(big.index)
    oi = np.log(year["open_interest_usd"]).diff().reindex(big.index)
    assert big.sum() > 30
    assert (ret[big] < 0).mean() > 0.85
    assert (oi[big] < 0).mean() > 0.85
    assert ret[big].mean() < -1.5 * ret[~big].std()
    assert oi[big].mean() < oi[~big].mean()


def test_each_side_is_liquidated_in_its_own_direction(year):
    r = hourly_returns(year)
    longs = year["long_liq_usd"].reindex(r.index)
    shorts = year["short_liq_usd"].reindex(r.index)
    down, up = r < -2 * r.std(), r > 2 * r.std()
    assert longs[down].sum() > 5 * shorts[down].sum()
    assert shorts[up].sum() > 5 * longs[up].sum()
    assert (longs[down] > shorts[down]).mean() > 0.8
    assert (shorts[up] > longs[up]).mean() > 0.8


def test_liquidation_sells_push_the_taker_buy_ratio_down(year):
    heavy = year["long_liq_usd"] > year["long_liq_usd"].quantile(0.99)
    assert year["taker_buy_ratio"][heavy].mean() < year["taker_buy_ratio"].mean() - 0.01


def test_share_of_large_squeeze_hours_is_realistic_and_ordered_by_preset(years):
    share = {p: large_squeeze_hours(f).mean() for p, f in years.items()}
    assert 0.004 <= share["default"] <= 0.025, share
    assert share["calm"] < share["default"] < share["crash-prone"], share


def test_the_default_passes_every_fact_on_each_of_the_report_seeds():
    """Not only on the mean: each seed's simulated year hits every band, the OI-growth hazard
    included (it missed on 2 of these 5 seeds while trending regimes tilted new positions)."""
    runs, _, _ = simulated_facts(DEFAULT, "BTC", days=365, seeds=REPORT_SEEDS, reps=0)
    assert len(runs) == 5
    misses = {run.name: failing(run) for run in runs}
    assert not any(misses.values()), misses


def _next_hour_label(frame: pd.DataFrame) -> pd.Series:
    future = frame["long_liq_usd"].shift(-1)
    return (future >= 0.003 * frame["open_interest_usd"]).astype(float).where(future.notna())


def _hazard(frame: pd.DataFrame, signal: pd.Series) -> float:
    """P(flush next hour | signal in its top decile) / P(flush next hour), flush = q94 liq/OI."""
    liq_oi = frame["long_liq_usd"] / frame["open_interest_usd"].shift(1)
    flush_next = (liq_oi >= liq_oi.quantile(0.94)).astype(float).shift(-1)
    ok = signal.notna() & flush_next.notna() & liq_oi.notna()
    top = signal[ok] >= signal[ok].quantile(0.9)
    return flush_next[ok][top].mean() / flush_next[ok].mean()


def test_default_hazard_rises_with_ongoing_liquidations_not_with_funding(year):
    """As in real hourly data: liquidations cluster, and funding or a rally warn of nothing."""
    liq_oi = year["long_liq_usd"] / year["open_interest_usd"].shift(1)
    above_low = np.log(year["close"]) - np.log(year["low"]).rolling(24).min()
    assert _hazard(year, liq_oi) > 2.5
    assert _hazard(year, year["funding_rate"]) < 1.6
    assert _hazard(year, above_low) < 1.0


def test_buildup_presets_keep_the_funding_to_flush_link(years):
    """crash-prone keeps the story the trading articles tell (documented): rich funding warns."""
    frame = years["crash-prone"]
    assert _hazard(frame, frame["funding_rate"]) > 1.5


def _warning_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Causal features of the warning signs: build-up (funding, OI growth, basis, depth) and,
    what carries the signal in real data, ongoing liquidations, drawdowns and volatility."""
    log_close = np.log(frame["close"])
    log_oi = np.log(frame["open_interest_usd"])
    liq = frame["long_liq_usd"] / frame["open_interest_usd"].shift(1)
    r = log_close.diff()
    return pd.DataFrame(
        {
            "funding": frame["funding_rate"],
            "oi_growth_4h": log_oi.diff(4),
            "oi_growth_24h": log_oi.diff(24),
            "basis": frame["close"] / frame["index_price"] - 1,
            "depth_to_oi": frame["bid_depth_1pct_usd"] / frame["open_interest_usd"],
            "below_24h_high": log_close - np.log(frame["high"].rolling(24).max()),
            "vs_24h_mean": log_close - log_close.rolling(24).mean(),
            "liq_1h": liq,
            "liq_6h": liq.rolling(6).sum(),
            "vol_6h": r.rolling(6).std(),
            "vol_24h": r.rolling(24).std(),
        }
    )


def test_a_model_on_the_warning_signs_predicts_flushes(year):
    """PR-AUC on the last 40 % of the year, trained on the first 60 %, is >= 3x the base rate."""
    lightgbm = pytest.importorskip("lightgbm")
    from sklearn.metrics import average_precision_score

    X = _warning_features(year)
    y = _next_hour_label(year)
    ok = y.notna() & X.notna().all(axis=1)
    X, y = X[ok], y[ok]
    split = int(len(X) * 0.6)
    # the native API: models.flush_model imports lightgbm with sklearn hidden (serving needs
    # no sklearn), after which lightgbm's sklearn wrapper is unusable in the same process
    params = {
        "objective": "binary",
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_data_in_leaf": 30,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "seed": 0,
        "verbose": -1,
    }
    train = lightgbm.Dataset(X.iloc[:split], y.iloc[:split])
    model = lightgbm.train(params, train, num_boost_round=200)
    test_y = y.iloc[split:]
    assert test_y.sum() >= 20
    pr_auc = average_precision_score(test_y, model.predict(X.iloc[split:]))
    assert pr_auc >= 3 * test_y.mean(), (pr_auc, test_y.mean())
