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


def test_a_registry_model_is_saved_once_for_the_workers_and_removed(universe):
    """Without a --model directory, workers load the model from a copy in the data directory
    that the store does not mistake for a symbol."""
    from models import FlushModel
    from serving.predictor import Predictor
    from training.score import _model_directories, _worker_predictor

    data_dir, model_dir = universe
    predictor = Predictor(FlushModel.load(model_dir), "flushrisk-BTC", "7")
    request = ScoreRequest(data_dir=data_dir, symbols=list(SYMBOLS))
    with _model_directories(request, {s: predictor for s in SYMBOLS}) as dirs:
        assert len(set(dirs.values())) == 1, "one copy per distinct model"
        copy = next(iter(dirs.values()))
        loaded = _worker_predictor(copy, "flushrisk-BTC", "7")
        assert loaded.model.booster.model_to_string() == predictor.model.booster.model_to_string()
        assert _worker_predictor(copy, "flushrisk-BTC", "7") is loaded, "loaded once per process"
        assert sorted(d.symbol for d in MarketStore(data_dir).datasets()) == sorted(SYMBOLS)
    assert not any(p.name.startswith(".score-models") for p in data_dir.iterdir())
