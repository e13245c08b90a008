"""Years of simulated market stay one believable market: no drift, stable USD labels."""

from __future__ import annotations

import numpy as np
import pytest

from features.sources.simulator import simulate
from features.sources.simulator.config import DEFAULT, derive
from features.sources.simulator.realism import MONTHLY_CV_MAX
from features.sources.simulator.report import PRICE_RATIO_BAND, label_usd, long_run

SEEDS = (1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def two_years():
    return {s: simulate("BTC", days=730, bar="1h", seed=s) for s in SEEDS}


def test_price_keeps_its_scale_over_two_years_on_every_seed(two_years):
    lo, hi = PRICE_RATIO_BAND
    for seed, frame in two_years.items():
        run = long_run(frame, seed, label_usd(DEFAULT, "BTC"))
        assert lo <= run.ratio_1y <= hi, (seed, run)
        assert lo <= run.ratio_2y <= hi, (seed, run)
    # and no systematic drift: the seeds' mean log ratio is near zero (it was -1.2 when
    # mostly-negative news jumps were not compensated)
    logs = [np.log(f["close"].iloc[-1] / f["close"].iloc[0]) for f in two_years.values()]
    assert abs(np.mean(logs)) < 0.5, logs


def test_the_quickstart_label_keeps_its_base_rate_month_after_month(two_years):
    usd = label_usd(DEFAULT, "BTC")
    for seed, frame in two_years.items():
        run = long_run(frame, seed, usd)
        assert run.monthly_cv <= MONTHLY_CV_MAX, (seed, run)
        hit = frame["long_liq_usd"] >= usd
        first, last = hit.iloc[: 24 * 182].mean(), hit.iloc[-24 * 182 :].mean()
        # was 10.5 % -> 1.1 % when the price drifted; half-years of volatility regimes alone
        # move it by up to a factor of 2 (seed 5: 6.6 % -> 3.3 %, with the price at 0.87)
        assert 0.45 <= last / first <= 2.2, (seed, first, last)
        assert 0.025 <= hit.mean() <= 0.09, (seed, hit.mean())  # about the real 5-6 %


def test_open_interest_is_a_number_of_coins_that_does_not_drift(two_years):
    for seed, frame in two_years.items():
        coins = frame["open_interest_usd"] / frame["close"]
        first, last = coins.iloc[: 24 * 90].median(), coins.iloc[-24 * 90 :].median()
        assert 0.6 <= last / first <= 1.6, (seed, first, last)


def test_open_interest_and_liquidations_scale_with_market_size():
    small = simulate("BTC", days=60, bar="1h", seed=3)
    btc = DEFAULT.profile("BTC").model_dump()
    big_cfg = derive(DEFAULT, symbols={"BTC": {**btc, "market_size_usd": 16e9}})
    big = simulate("BTC", days=60, bar="1h", seed=3, config=big_cfg)
    assert big["open_interest_usd"].median() / small["open_interest_usd"].median() == (
        pytest.approx(2.0, rel=0.05)
    )
    ratio = big["long_liq_usd"].sum() / small["long_liq_usd"].sum()
    assert 1.5 <= ratio <= 2.7, ratio


def test_long_short_account_ratio_stays_in_the_range_exchanges_show():
    for seed in (11, 12, 13):
        ratio = simulate("BTC", days=365, bar="1h", seed=seed)["long_short_ratio"]
        assert ratio.quantile(0.01) >= 0.4, seed
        assert ratio.quantile(0.99) <= 3.2, seed
        assert ratio.max() <= 6.0, (seed, ratio.max())  # was 14 (p99 9.3)
