"""The compiled booster (models.compiled) answers exactly as LightGBM's predict, or not at all.

A backtest's probabilities come from it, so what a user relies on is: the same numbers as
LightGBM on every kind of value a split can meet (thresholds and their float64 neighbours,
missing values, zero and LightGBM's 1e-35 zero band), a library built once and found again in
the cache, and LightGBM when compiling is switched off.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from models import FlushModel, compiled
from models.calibration import Calibrator
from models.flush_model import import_lightgbm
from models.linear import LinearScorer

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler")


@pytest.fixture(scope="module")
def booster():
    lgb = import_lightgbm()
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 6))
    X[rng.random(X.shape) < 0.1] = np.nan  # missing values: NaN-aware splits
    X[:, 5] = np.where(rng.random(3000) < 0.3, 0.0, X[:, 5])  # zeros: splits at +-1e-35
    y = ((np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 5]) > 0.3) ^ (rng.random(3000) < 0.1))
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 1,
              "min_data_in_leaf": 20, "num_threads": 1}
    return lgb.train(params, lgb.Dataset(X, y.astype(float)), num_boost_round=30)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLUSHRISK_TREE_CACHE", str(tmp_path / "trees"))
    return tmp_path / "trees"


def _low_word_all_ones(values: np.ndarray) -> np.ndarray:
    """The same values with their low 32 bits set (TL2cgen's missing marker, as a value)."""
    bits = values.astype(np.float64).view(np.uint64) | np.uint64(0xFFFFFFFF)
    return bits.view(np.float64)


def test_compiled_trees_equal_lightgbm_on_every_edge_a_split_meets(booster, cache):
    trees = compiled.compiled_trees(booster, build=True)
    assert trees is not None and trees.path.parent == cache
    rows = compiled.check_rows(booster, n=4000, seed=5)
    rng = np.random.default_rng(0)
    ordinary = rng.normal(size=(2000, 6))
    ordinary[rng.random(ordinary.shape) < 0.2] = np.nan
    marked = _low_word_all_ones(np.where(np.isnan(ordinary), 0.5, ordinary))
    for sample in (rows, ordinary, marked, np.full((3, 6), np.nan), np.empty((0, 6))):
        for raw in (True, False):
            expected = booster.predict(sample, raw_score=raw, num_threads=1)
            np.testing.assert_array_equal(trees.predict(sample, raw_score=raw), expected)


def test_a_built_library_is_found_again_and_not_rebuilt(booster, cache):
    first = compiled.compiled_trees(booster, build=True)
    assert first is not None
    built = first.path.stat().st_mtime_ns
    fresh = import_lightgbm().Booster(model_str=booster.model_to_string())  # another process's
    again = compiled.compiled_trees(fresh, build=False)
    assert again is not None and again.path == first.path
    assert again.path.stat().st_mtime_ns == built
    assert [p.name for p in cache.iterdir()] == [first.path.name]  # no build leftovers


def test_nothing_is_compiled_unless_asked_or_allowed(booster, cache, monkeypatch):
    fresh = import_lightgbm().Booster(model_str=booster.model_to_string())
    assert compiled.compiled_trees(fresh, build=False) is None  # not cached: LightGBM predicts
    monkeypatch.setenv("FLUSHRISK_COMPILE_TREES", "false")
    other = import_lightgbm().Booster(model_str=booster.model_to_string())
    assert compiled.compiled_trees(other, build=True) is None
    assert not cache.exists()


def test_a_blended_models_probability_through_compiled_trees_is_the_models(booster, cache):
    """Batch scoring's one compiled pass (trees, linear part, blend, with inf read as missing)
    gives FlushModel's own probabilities, and a model without a linear part gets the trees'."""
    k = booster.num_feature()
    rng = np.random.default_rng(11)
    linear = LinearScorer(
        features=booster.feature_name(), lo=np.r_[-np.inf, np.full(k - 1, -1.0)],
        hi=np.r_[np.inf, np.full(k - 1, 1.5)], fill=rng.normal(size=k), mean=rng.normal(size=k),
        scale=rng.uniform(0.5, 2, size=k), coef=np.r_[rng.normal(size=k - 1), 0.0], intercept=-1.2,
    )
    calibrator = Calibrator("isotonic", knots_x=np.linspace(0.01, 0.99, 9),
                            knots_y=np.linspace(0.001, 0.9, 9))
    rows = np.vstack([compiled.check_rows(booster, n=1000, seed=7), rng.normal(scale=3, size=(1000, k))])
    rows[rng.random(rows.shape) < 0.05] = np.inf
    rows[rng.random(rows.shape) < 0.05] = -np.inf
    rows[rng.random(rows.shape) < 0.1] = np.nan
    for model in (
        FlushModel(booster, booster.feature_name(), calibrator, {}, {"blend": 0.6}, linear),
        FlushModel(booster, booster.feature_name(), calibrator, {}, {}),
    ):
        trees = compiled.for_model(model, build=True)
        assert trees is not None
        np.testing.assert_allclose(model.predict_proba(rows, booster=trees), model.predict_proba(rows),
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(model.predict_proba(rows[:5], booster=trees),
                                   model.predict_proba(rows[:5]), rtol=0, atol=1e-12)


def test_a_failed_build_says_so_in_one_line_and_lightgbm_predicts(booster, cache, monkeypatch, caplog):
    monkeypatch.setattr(compiled.shutil, "which", lambda name: None)  # no C compiler
    fresh = import_lightgbm().Booster(model_str=booster.model_to_string())
    with caplog.at_level("INFO", logger="models.compiled"):
        assert compiled.compiled_trees(fresh, build=True) is None
    lines = [r.getMessage() for r in caplog.records if r.name == "models.compiled"]
    assert len(lines) == 1 and "LightGBM predicts" in lines[0] and "gcc" in lines[0]
