"""Serving fixtures: a tiny real model, exported the way promote exports it, and the app.

The model is a real LightGBM booster (20 small trees) trained on the real feature pipeline's
output for 75 simulated days of hourly bars, calibrated, and saved in the FlushModel layout,
then exported to the (test-private) BentoML store with :func:`training.registry.export_bentoml`
so the service finds it exactly where ``flushrisk promote`` puts it.

``Service.to_asgi()`` registers Prometheus metrics: a second build in the same process raises
"duplicated timeseries". The ASGI app is therefore built once per session (``asgi_app``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

SYMBOL = "BTC"
API_KEY = "test-key-0123"
BAR = "1h"
DAYS = 75


def bars_payload(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Canonical frame rows as the JSON bars a client sends (NaN -> left out)."""
    out = []
    for t, row in zip(frame.index, frame.to_dict("records"), strict=True):
        bar = {k: float(v) for k, v in row.items() if not np.isnan(v)}
        bar["time"] = t.isoformat()
        out.append(bar)
    return out


@pytest.fixture(scope="session")
def market() -> pd.DataFrame:
    """75 days of simulated hourly bars with every signal group."""
    from features.sources.simulator import simulate

    return simulate(SYMBOL, days=DAYS, bar=BAR, seed=11, preset="default")


@pytest.fixture(scope="session")
def feature_matrix(market: pd.DataFrame) -> pd.DataFrame:
    from features import build_features

    return build_features(market)


def train_tiny_model(X: pd.DataFrame, symbol: str = SYMBOL, seed: int = 0) -> Any:
    """A real, calibrated FlushModel on X with a label correlated to a few features."""
    from features.schema import SIGNAL_GROUPS
    from models import FlushModel
    from models.calibration import fit_calibrator
    from models.flush_model import import_lightgbm, risk_thresholds

    lgb = import_lightgbm()
    rng = np.random.default_rng(seed)
    arr = X.to_numpy(np.float64)
    score = np.nan_to_num(arr[:, 0]) + 0.5 * rng.normal(size=len(X))
    y = (score > np.quantile(score, 0.8)).astype(np.float64)
    data = lgb.Dataset(arr, y, feature_name=list(X.columns), free_raw_data=False)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1, "seed": seed}
    booster = lgb.train(params, data, num_boost_round=20)
    calibrator = fit_calibrator(booster.predict(arr), y, "platt")
    finite = np.where(np.isfinite(arr), arr, np.nan)
    seen = ~np.isnan(finite).all(axis=0)
    ranges = {
        name: (
            [float(np.nanmin(finite[:, j])), float(np.nanmax(finite[:, j]))] if seen[j] else None
        )
        for j, name in enumerate(X.columns)
    }
    base_rate = float(y.mean())
    from features.pipeline import FEATURE_DEFINITIONS

    metadata = {
        "symbol": symbol,
        "bar": BAR,
        "feature_definitions": FEATURE_DEFINITIONS,
        "data_start": str(X.index[0]),
        "data_end": str(X.index[-1]),
        "groups": list(SIGNAL_GROUPS),
        "base_rate": base_rate,
        "thresholds": risk_thresholds(base_rate),
        "feature_ranges": ranges,
        "metrics": {"pr_auc": 0.5, "brier": 0.1},
    }
    spec = {
        "kind": "liquidation",
        "horizon": "PT1H",
        "threshold_usd": None,
        "threshold_oi_fraction": 0.005,
        "k_vol": 3.0,
        "vol_window": "P7D",
        "oi_drop_pct": None,
    }
    return FlushModel(booster, list(X.columns), calibrator, spec, metadata)


@pytest.fixture(scope="session")
def tiny_model(feature_matrix: pd.DataFrame) -> Any:
    return train_tiny_model(feature_matrix)


@pytest.fixture(scope="session")
def model_dir(tiny_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model.save(tmp_path_factory.mktemp("flushmodel"))


@pytest.fixture(scope="session")
def bento_tag(tiny_model: Any) -> str:
    """The tiny model exported to the test BentoML store as promote does (flushrisk-btc)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    from training.registry import export_bentoml

    home = BentoMLContainer.bentoml_home.get()  # the store the service will read
    return export_bentoml(tiny_model, SYMBOL, 3, "0" * 31 + "1", bentoml_home=home)


@pytest.fixture(scope="session")
def predictor(model_dir: Path) -> Any:
    from serving.predictor import Predictor

    return Predictor.load(
        model_dir, "flushrisk-btc", "test", {"symbol": SYMBOL, "mlflow_version": "3"}
    )


@pytest.fixture(scope="session")
def asgi_app(bento_tag: str) -> Iterator[Any]:
    """The service's ASGI app, built ONCE per process, with an API key configured."""
    os.environ["FLUSHRISK_API_KEY"] = API_KEY
    try:
        from serving.service import FlushRiskService

        yield FlushRiskService.to_asgi()
    finally:
        os.environ.pop("FLUSHRISK_API_KEY", None)


@pytest.fixture(scope="session")
def client(asgi_app: Any) -> Iterator[Any]:
    """A TestClient with the API key; lifespan runs, so the model is loaded (readyz)."""
    with warnings.catch_warnings():  # starlette asks for httpx2, which is not needed here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    with TestClient(asgi_app, headers={"X-API-Key": API_KEY}) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def window(market: pd.DataFrame) -> pd.DataFrame:
    """The last 30 days of bars: the minimum window of the hourly model."""
    from features import MIN_WINDOW

    last = market.index[-1]
    return market[market.index > last - MIN_WINDOW]


RADAR_SYMBOLS = ["BTC", "ETH"]


@pytest.fixture(scope="session")
def scored_radar(tmp_path_factory: pytest.TempPathFactory, predictor: Any) -> Path:
    """A data directory a short replayed radar wrote: market data, scores and a snapshot for
    BTC and ETH (6 scored hourly bars each). Tests that damage it copy it first."""
    import threading

    from features.sources.live.replay import ReplayPlan, ReplaySource
    from serving.radar import Radar, RadarClock, run_replay

    root = tmp_path_factory.mktemp("scored-radar")
    plan = ReplayPlan(
        symbols=RADAR_SYMBOLS, bar="1h", warm_days=31, days=1.0, seed=5, preset="crash-prone"
    )
    radar = Radar(root, "1h", {s: predictor for s in RADAR_SYMBOLS}, clock=RadarClock())
    run_replay(radar, ReplaySource(plan), speed=0, stop=threading.Event(), max_bars=6)
    radar.close(timeout=60)
    return root
