"""Walk-forward splits: train strictly before test, purged and embargoed by the label horizon."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.errors import DataError
from training.walkforward import WalkForwardConfig, walk_forward_splits


def _index(n: int = 2000, gaps: bool = True) -> pd.DatetimeIndex:
    idx = pd.date_range("2025-01-01", periods=n, freq="1h", tz="UTC")
    if gaps:
        idx = idx.delete(np.r_[300:340, 900:905])
    return idx


@pytest.mark.parametrize("scheme,window", [("expanding", None), ("rolling", "20D")])
@pytest.mark.parametrize("horizon,embargo", [("1h", None), ("4h", "2h"), ("1h", "0h")])
def test_no_training_label_window_reaches_the_test_block(scheme, window, horizon, embargo):
    idx = _index()
    cfg = WalkForwardConfig(scheme=scheme, window=window, horizon=horizon, embargo=embargo, n_folds=4)
    folds = walk_forward_splits(idx, cfg)
    assert len(folds) == 4
    for fold in folds:
        last_train, first_test = idx[fold.train].max(), idx[fold.test].min()
        # label window of the last training row (t, t + horizon] ends before the test block,
        # with the embargo on top
        assert last_train + pd.Timedelta(horizon) + cfg.embargo_ < first_test
        assert not np.intersect1d(fold.train, fold.test).size
        if scheme == "rolling":
            assert first_test - idx[fold.train].min() <= pd.Timedelta(window) + cfg.gap + pd.Timedelta("1h")


def test_expanding_folds_tile_the_test_period_in_time_order():
    idx = _index()
    folds = walk_forward_splits(idx, WalkForwardConfig(n_folds=5))
    tested = np.concatenate([f.test for f in folds])
    assert np.all(np.diff(tested) > 0)  # no overlap, in time order
    assert tested[-1] == len(idx) - 1  # up to the last row
    assert all(len(a.train) < len(b.train) for a, b in itertools.pairwise(folds))


def test_test_from_makes_one_split_at_that_date():
    idx = _index()
    (fold,) = walk_forward_splits(idx, WalkForwardConfig(test_from="2025-03-01", horizon="2h"))
    assert idx[fold.test[0]] == pd.Timestamp("2025-03-01", tz="UTC")
    assert idx[fold.train[-1]] < pd.Timestamp("2025-03-01", tz="UTC") - pd.Timedelta("4h")


def test_purge_shorter_than_the_horizon_is_refused():
    with pytest.raises(ValidationError, match="shorter than the label horizon"):
        WalkForwardConfig(horizon="4h", purge="1h")


def test_test_from_outside_the_data_names_the_range():
    with pytest.raises(DataError, match="outside the data"):
        walk_forward_splits(_index(), WalkForwardConfig(test_from="2030-01-01"))


def test_a_first_fold_with_nothing_out_of_sample_yet_uses_the_raw_probability():
    """A first (inner or outer) fold whose booster had too few positives to hold out a
    validation split has nothing to calibrate on: the raw probability is used as it is,
    rather than the run failing (tuning on a sparse label did)."""
    import numpy as np

    from training.fit import TrainConfig, calibrate

    calibrator = calibrate(np.zeros(0), np.zeros(0), TrainConfig())
    assert calibrator.method == "identity"
    raw = np.array([0.01, 0.2, 0.7])
    assert np.allclose(calibrator(raw), raw)
