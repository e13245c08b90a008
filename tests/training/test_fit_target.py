"""The booster may train on near misses, but the model is evaluated and calibrated on the label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from training.fit import TrainConfig, run_walk_forward


def test_the_model_trained_on_near_misses_is_evaluated_on_the_hard_label(trained, sim_windows):
    model, wf = trained
    X, y, _ = sim_windows
    assert model.metadata["training_target"].startswith("near_miss")
    assert set(np.unique(wf.y)) == {0.0, 1.0}
    assert np.array_equal(wf.y, y.loc[wf.index].to_numpy())
    p = model.predict_proba(X.iloc[:50])
    assert ((p > 0) & (p < 1)).all()
    assert len(model.explain(X.iloc[:2], top=3)[0]) == 3


def test_training_target_is_recorded_as_a_param():
    params = TrainConfig().params()
    assert params["lgbm_target"] == "near_miss"
    assert float(params["lgbm_near_miss_ratio"]) == 0.5


def test_a_strength_that_does_not_align_with_the_features_is_refused(sim_windows, fast_config):
    X, y, _ = sim_windows
    strength = pd.Series(np.zeros(len(X) - 1), index=X.index[1:])
    with pytest.raises(DataError, match="align"):
        run_walk_forward(X, y, pd.Timedelta("1h"), fast_config, strength=strength)


def test_near_misses_are_used_for_the_liquidation_label_only(sim_frame):
    from features import LabelSpec, labelled_windows
    from training.jobs import read_strength

    for kind, expect_strength in (("liquidation", True), ("proxy", False)):
        spec = LabelSpec(kind=kind)
        X, y, _ = labelled_windows(sim_frame, spec)
        strength = read_strength(sim_frame, spec, X.index)
        assert (strength is not None) == expect_strength, kind
        if strength is not None:
            assert strength.index.equals(X.index)
            assert ((strength >= 1) == (y == 1)).all()
