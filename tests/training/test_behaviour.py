"""Behaviour of a simulator-trained model that a trader relies on.

More liquidation fuel and less liquidity must never LOWER the flush probability: a thinner bid
book, more long liquidation notional just below the price (the booster's monotone constraints,
kept by the linear part of the blend too), and more leverage: richer funding and more open
interest built over a day (issue 18: funding at 0.3 %/8 h with open interest up 50 % in 24 h was
answered lower). Changes the model has no reason to care about must not move it at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import MIN_WINDOW, features_at

RISKIER = {
    "thin depth": {"depth_bid_1pct_rel_7d": -1, "depth_bid_2pct_rel_7d": -1, "oi_to_bid_depth_1pct": +1, "oi_to_bid_depth_2pct": +1},
    "price just above a liquidation band": {"liq_long_within_1pct": +1, "liq_long_within_2pct": +1, "liq_long_within_5pct": +1},
    "more leverage": {"funding_rate": +1, "funding_annualized": +1, "funding_cum_24h": +1, "oi_growth_24h": +1,
                      "oi_coin_growth_24h": +1},
}


@pytest.fixture(scope="module")
def rows(sim_windows) -> pd.DataFrame:
    X, _, _ = sim_windows
    return X.iloc[::7]


@pytest.mark.parametrize("sign", RISKIER)
@pytest.mark.parametrize("size", [0.5, 2.0])
def test_riskier_conditions_never_lower_the_probability(trained, rows, sign, size):
    model, _ = trained
    before = model.predict_proba(rows)
    worse = rows.copy()
    for feature, direction in RISKIER[sign].items():
        spread = rows[feature].std()
        worse[feature] = rows[feature] + direction * size * spread
    after = model.predict_proba(worse)
    assert np.all(after >= before - 1e-12), f"{sign}: {np.sum(after < before - 1e-12)} rows got safer"


def test_all_warning_signs_together_raise_the_average_risk(trained, rows):
    model, _ = trained
    worse = rows.copy()
    for group in RISKIER.values():
        for feature, direction in group.items():
            worse[feature] = rows[feature] + direction * 2 * rows[feature].std()
    assert model.predict_proba(worse).mean() > model.predict_proba(rows).mean()


def test_features_the_booster_never_splits_on_do_not_move_it(trained, rows):
    """The booster's trees ignore features they never split on (the blend's linear part reads
    every feature by design, so the check is on the booster's own raw score)."""
    model, _ = trained
    unused = [f for f, n in zip(model.features, model.booster.feature_importance("split"), strict=True) if n == 0]
    if not unused:
        pytest.skip("the booster splits on every feature: no unused feature to perturb")
    moved = rows.copy()
    rng = np.random.default_rng(0)
    moved[unused] = rng.normal(size=(len(rows), len(unused))) * 100
    columns = list(model.features)
    np.testing.assert_array_equal(
        model.booster.predict(moved[columns].to_numpy(np.float64), raw_score=True),
        model.booster.predict(rows[columns].to_numpy(np.float64), raw_score=True),
    )


def test_history_older_than_the_minimum_window_does_not_move_it(trained, sim_frame):
    model, _ = trained
    t = sim_frame.index[-1]
    recent = sim_frame[sim_frame.index > t - MIN_WINDOW]
    longer = sim_frame[sim_frame.index > t - 2 * MIN_WINDOW].copy()
    older = longer.index <= t - MIN_WINDOW
    longer.loc[older, "funding_rate"] = 0.004  # wildly rich funding, but outside the window
    p_recent = model.predict_proba(features_at(recent))
    p_longer = model.predict_proba(features_at(longer))
    assert p_recent[0] == pytest.approx(p_longer[0], abs=1e-12)


def test_the_model_learned_something_out_of_sample(trained):
    _, wf = trained
    from training.metrics import average_precision

    assert average_precision(wf.y, wf.predictions["model"]) > 1.5 * wf.y.mean()
