"""The calibrator: fitted on out-of-fold predictions, never certain, monotone, serialisable."""

from __future__ import annotations

import numpy as np
import pytest

from models.calibration import Calibrator, fit_calibrator


def _sample(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores that are over-confident: the true probability is raw**2."""
    rng = np.random.default_rng(seed)
    raw = rng.random(n) ** 3
    y = (rng.random(n) < raw**2).astype(float)
    return raw, y


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_never_outputs_exactly_zero_or_one(method):
    raw, y = _sample(5000)
    # labels that a naive fit would map to certainty: all-zero at the bottom, all-one at the top
    y[raw < 0.01] = 0.0
    y[raw > 0.9] = 1.0
    cal = fit_calibrator(raw, y, method)
    p = cal(np.r_[0.0, 1e-12, raw, 1 - 1e-12, 1.0])
    assert np.all(p > 0.0) and np.all(p < 1.0)


@pytest.mark.parametrize("labels", [0.0, 1.0])
def test_one_class_only_still_gives_open_probabilities(labels):
    raw = np.linspace(0.01, 0.99, 200)
    for method in ("isotonic", "platt"):
        p = fit_calibrator(raw, np.full(200, labels), method)(raw)
        assert np.all((p > 0) & (p < 1))


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibrated_probabilities_match_frequencies_and_keep_the_ranking(method):
    raw, y = _sample(20000, seed=1)
    cal = fit_calibrator(raw, y, method)
    test_raw, test_y = _sample(20000, seed=2)
    p = cal(test_raw)
    for lo, hi in [(0.0, 0.1), (0.1, 0.3), (0.3, 1.0)]:
        band = (p >= lo) & (p < hi)
        assert abs(p[band].mean() - test_y[band].mean()) < 0.03
    order = np.argsort(test_raw)
    assert np.all(np.diff(p[order]) >= 0)  # monotone: never reverses the booster's ranking


def test_isotonic_is_strictly_increasing_so_ties_do_not_erase_ranking():
    raw, y = _sample(5000)
    cal = fit_calibrator(raw, y, "isotonic")
    grid = np.linspace(0.2, 0.8, 50)
    assert np.all(np.diff(cal(grid)) > 0)


def test_auto_uses_platt_with_few_positives_and_isotonic_with_many():
    raw, y = _sample(300)
    assert fit_calibrator(raw, y, "auto").method == "platt"
    raw, y = _sample(20000)
    assert fit_calibrator(raw, y, "auto").method == "isotonic"


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_round_trip_through_plain_dict(method):
    raw, y = _sample(3000)
    cal = fit_calibrator(raw, y, method)
    again = Calibrator.from_dict(cal.to_dict())
    np.testing.assert_array_equal(again(raw), cal(raw))
