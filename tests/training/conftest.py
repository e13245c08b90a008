"""Shared fixtures of the training tests: a small simulated store, a trained model, and a
pre-migrated MLflow database copied per test (a fresh sqlite store costs ~1.3 s of migrations)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from features import LabelSpec, labelled_windows, make_label_strength
from features.sources.simulator import simulate
from features.store import MarketStore

SIM_DAYS = 150


@pytest.fixture(scope="session")
def sim_frame() -> pd.DataFrame:
    """~5 months of simulated hourly BTC bars (seeded, so every run sees the same data)."""
    return simulate("BTC", days=SIM_DAYS, bar="1h", seed=11)


@pytest.fixture(scope="session")
def sim_windows(sim_frame):
    return labelled_windows(sim_frame, LabelSpec())


def sim_strength(frame: pd.DataFrame, X: pd.DataFrame) -> pd.Series:
    """Label strength of the labelled rows (the booster's near-miss training target)."""
    return make_label_strength(frame, LabelSpec()).reindex(X.index)


@pytest.fixture(scope="session")
def sim_store(tmp_path_factory, sim_frame) -> Path:
    root = tmp_path_factory.mktemp("store")
    MarketStore(root).write("BTC", sim_frame, source="simulator")
    return root


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """An MLflow sqlite database with every migration applied, built once per session."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    home = tmp_path_factory.mktemp("mlflow-template")
    store = SqlAlchemyStore(f"sqlite:///{home / 'mlflow.db'}", (home / "artifacts").as_uri())
    store.engine.dispose()
    return home / "mlflow.db"


@pytest.fixture
def mlflow_home(tmp_path, mlflow_template) -> Path:
    """A fresh MLflow home per test: the template database copied in."""
    home = tmp_path / "mlflow"
    home.mkdir()
    shutil.copy(mlflow_template, home / "mlflow.db")
    return home


@pytest.fixture
def bentoml_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "bentoml"
    monkeypatch.setenv("BENTOML_HOME", str(home))
    monkeypatch.setenv("FLUSHRISK_BENTOML_HOME", str(home))
    return home


FAST = {"num_threads": 1}


@pytest.fixture(scope="session")
def fast_config():
    from models.lgbm import BoosterConfig
    from training.fit import TrainConfig
    from training.walkforward import WalkForwardConfig

    return TrainConfig(
        booster=BoosterConfig(num_boost_round=300, early_stopping_rounds=30).with_params(**FAST),
        walk_forward=WalkForwardConfig(n_folds=3),
    )


@pytest.fixture(scope="session")
def trained(sim_frame, sim_windows, fast_config):
    """A model trained on the simulated windows (near-miss target), with its walk-forward result."""
    from training.fit import fit_final_model, run_walk_forward

    X, y, meta = sim_windows
    strength = sim_strength(sim_frame, X)
    wf = run_walk_forward(X, y, pd.Timedelta("1h"), fast_config, strength=strength)
    model = fit_final_model(
        X, y, wf, fast_config, {"symbol": "BTC", "bar": "1h"}, meta.label_spec, strength=strength
    )
    return model, wf
