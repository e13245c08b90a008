"""The linear part's size fit: ridge on the log size of the next window, served as log-odds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.lgbm import BoosterConfig, final_linear, linear_excluded, monotone_constraints
from models.linear import fit_linear, size_target

FEATURES = ["liq_long_1h_oi", "funding_rate", "liq_long_bar_oi", "noise"]


def _data(n: int = 4000, seed: int = 5) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """Size of the next hour's liquidations driven by the first feature; label = size >= 1."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=FEATURES,
                     index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))
    strength = np.exp(-3.0 + 1.0 * X["liq_long_1h_oi"].to_numpy() + rng.normal(0, 1.0, n))
    y = pd.Series((strength >= 1.0).astype(float), index=X.index)
    return X, y, strength


def test_size_fit_gives_the_labels_log_odds():
    X, y, strength = _data()
    linear = fit_linear(X, y, strength=strength)
    p = 1 / (1 + np.exp(-linear.logit(X.to_numpy())))
    # a probability of the served label, not a size: its mean is the base rate
    assert abs(p.mean() - y.mean()) < 0.01
    assert linear.coef[0] > 0 and abs(linear.coef[3]) < 0.2 * linear.coef[0]


def test_size_fit_ranks_better_than_the_logistic_fit_with_few_positives():
    """Every quiet hour tells the size fit how far it was from a squeeze: with ~60 positives
    on the training rows it ranks fresh rows better than the logistic fit on the labels."""
    X, y, strength = _data(n=2500, seed=11)
    fresh, y_fresh, _ = _data(n=20000, seed=12)
    from sklearn.metrics import average_precision_score

    size = fit_linear(X, y, strength=strength).logit(fresh.to_numpy())
    label = fit_linear(X, y).logit(fresh.to_numpy())
    assert average_precision_score(y_fresh, size) > average_precision_score(y_fresh, label)


def test_excluded_group_gets_zero_coefficients_but_stays_in_the_feature_list():
    X, y, strength = _data()
    config = BoosterConfig(linear_exclude_groups=("cascade",))
    excluded = linear_excluded(FEATURES, config)
    assert excluded == ["liq_long_bar_oi"]
    linear = final_linear(X, y, config.model_copy(update={"blend": 0.5}), strength)
    assert linear.features == FEATURES
    assert linear.coef[FEATURES.index("liq_long_bar_oi")] == 0.0


def test_size_target_is_zero_for_a_quiet_hour_and_grows_with_size():
    t = size_target(np.array([0.0, np.nan, 0.5, 1.0, 4.0]))
    assert t[0] == 0.0 and t[1] == 0.0
    assert np.all(np.diff(t[1:]) > 0)


def test_more_leverage_is_constrained_never_to_lower_the_risk():
    """Funding and 24-hour open-interest growth are increasing constraints of the booster and
    of the linear part (issue 18: funding 0.3 %/8 h and OI +50 %/24 h answered lower)."""
    names = ["funding_rate", "funding_cum_24h", "oi_growth_24h", "oi_coin_growth_24h", "oi_growth_1h"]
    assert monotone_constraints(names) == [1, 1, 1, 1, 0]
    X, y, strength = _data()
    X = X.rename(columns={"funding_rate": "funding_rate"})
    X["funding_rate"] = -X["liq_long_1h_oi"] + np.random.default_rng(0).normal(0, 0.1, len(X))
    linear = fit_linear(X, y, strength=strength, signs=monotone_constraints(list(X.columns)))
    assert linear.coef[FEATURES.index("funding_rate")] >= 0.0


def test_auto_picks_the_size_fit_when_the_size_carries_the_signal():
    """``linear_target="auto"`` scores both linear parts on the inner validation rows and keeps
    the better one; here the label is a noisy cut of a size that the first feature drives."""
    from models.lgbm import fit_booster

    X, y, strength = _data(n=3000, seed=21)
    config = BoosterConfig(linear_target="auto", num_boost_round=30, early_stopping_rounds=10)
    fit = fit_booster(X, y, config, strength=strength)
    assert fit.linear_target in ("size", "label")
    alone = fit_booster(X, y, config.model_copy(update={"linear_target": "label"}))
    assert alone.linear_target == "label"  # no choice without the label strength either
    no_strength = fit_booster(X, y, config)
    assert no_strength.linear_target == "label"


def test_final_model_takes_the_linear_target_most_folds_chose():
    from types import SimpleNamespace

    from training.fit import chosen_linear_target

    def wf(*kinds):
        return SimpleNamespace(folds=[SimpleNamespace(linear_target=k) for k in kinds])

    assert chosen_linear_target(wf("size", "label", "size")) == "size"
    assert chosen_linear_target(wf("size", "label")) == "label"  # a tie: the latest fold's
    assert chosen_linear_target(wf("", "")) is None
