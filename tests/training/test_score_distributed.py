"""Batch scoring on a 2-worker Dask cluster equals scoring in one process, bit for bit, and its
tasks carry keys (symbol, months, directories), never bars or models."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from features.distributed import LOCAL_PROCESS, dask_client
from features.scores import ScoreStore
from features.sources.simulator import simulate
from features.store import MarketStore
from tests.serving.conftest import train_tiny_model
from training.score import ScoreRequest, _ScoreTask, score_job

SYMBOLS = ("BTC", "ETH", "SOL")


@pytest.fixture(scope="module")
def universe(tmp_path_factory):
    """Three symbols x 75 days of hourly bars (three month partitions each) and a model."""
    from features import build_features

    root = tmp_path_factory.mktemp("score-dask")
    frames = {s: simulate(s, days=75, bar="1h", seed=k) for k, s in enumerate(SYMBOLS)}
    for symbol, frame in frames.items():
        MarketStore(root / "data").write(symbol, frame)
    model = train_tiny_model(build_features(frames["BTC"]))
    return root / "data", model.save(root / "model")


def _score(data_dir, model_dir, out, scheduler, **kw):
    return score_job(ScoreRequest(data_dir=data_dir, symbols=list(SYMBOLS), model=str(model_dir),
                                  out=out, scheduler=scheduler, **kw))


@pytest.mark.slow
def test_two_dask_workers_score_exactly_as_one_process(universe, tmp_path):
    data_dir, model_dir = universe
    # one process, one pass over each whole history (fewer symbols than MANY_SYMBOLS: no Dask)
    single = score_job(ScoreRequest(data_dir=data_dir, symbols=list(SYMBOLS), model=str(model_dir),
                                    out=tmp_path / "one.parquet", write_scores=False))
    with dask_client(None, workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        dask = score_job(ScoreRequest(data_dir=data_dir, symbols=list(SYMBOLS), model=str(model_dir),
                                      out=tmp_path / "dask.parquet", months_per_task=1),
                         client=client)
    one, two = pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "dask.parquet")
    assert len(one) == 3 * 75 * 24
    pd.testing.assert_frame_equal(two, one, check_exact=True)
    assert {s: v["rows"] for s, v in dask.symbols.items()} == {s: 75 * 24 for s in SYMBOLS}
    assert {s: v["rows"] for s, v in single.symbols.items()} == {s: 75 * 24 for s in SYMBOLS}
    # the workers wrote the scores dataset themselves, the same rows
    stored = ScoreStore(data_dir).read("ETH", "1h")
    expected = one[one["symbol"] == "ETH"].set_index("time").drop(columns="symbol")
    pd.testing.assert_frame_equal(stored, expected, check_exact=True, check_freq=False,
                                  check_names=False)


def test_the_task_function_holds_keys_not_data(universe, tmp_path):
    """What travels with each task is a few hundred bytes, whatever the data and model size."""
    data_dir, model_dir = universe
    task = _ScoreTask(models={s: (str(model_dir), "flushrisk-BTC", "local") for s in SYMBOLS},
                      data_dir=str(data_dir), bar="1h", start=None, end=None, write_scores=False,
                      keep=False)
    assert len(pickle.dumps(task)) < 2_000
    # and the in-process path (the same task function) gives the one-pass scores
    _score(data_dir, model_dir, tmp_path / "parts.parquet", LOCAL_PROCESS, months_per_task=2,
           write_scores=False)
    score_job(ScoreRequest(data_dir=data_dir, symbols=["SOL"], model=str(model_dir),
                           out=tmp_path / "sol.parquet", write_scores=False))
    parts = pd.read_parquet(tmp_path / "parts.parquet")
    sol = pd.read_parquet(tmp_path / "sol.parquet")
    pd.testing.assert_frame_equal(parts[parts["symbol"] == "SOL"].reset_index(drop=True), sol,
                                  check_exact=True)
