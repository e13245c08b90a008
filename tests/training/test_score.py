"""Batch scoring: every bar of a stored history, exactly as /predict answers for that bar."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features import MIN_WINDOW, features_at
from features.errors import DataError
from features.scores import ScoreStore
from serving.predictor import Predictor
from serving.schemas import PredictRequest
from tests.serving.conftest import bars_payload
from training.cli import app
from training.score import ScoreRequest, score_job


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, trained):
    model, _ = trained
    return model.save(tmp_path_factory.mktemp("model") / "btc")


def _request(sim_store, model_dir, tmp_path, **kw):
    return ScoreRequest(data_dir=sim_store, symbols=["BTC"], model=str(model_dir),
                        out=tmp_path / "probs.parquet", **kw)


def test_scores_agree_with_predict_and_features_at_on_the_same_bars(sim_store, sim_frame, model_dir, tmp_path, trained):
    start = sim_frame.index[0] + MIN_WINDOW + pd.Timedelta(days=5)
    end = start + pd.Timedelta(days=3)
    outcome = score_job(_request(sim_store, model_dir, tmp_path, start=str(start), end=str(end),
                                 write_scores=False, drivers="all"))
    scores = pd.read_parquet(tmp_path / "probs.parquet").set_index("time")
    assert outcome.symbols["BTC"]["rows"] == len(scores) == 73
    assert scores.index[0] == start and scores.index[-1] == end
    model, _ = trained
    predictor = Predictor(model, "flushrisk-btc", "local")
    for t in scores.index[::12]:
        window = sim_frame[(sim_frame.index > t - MIN_WINDOW) & (sim_frame.index <= t)]
        answer = predictor.predict(
            PredictRequest.model_validate({"symbol": "BTC", "bars": bars_payload(window)}),
            now=t.to_pydatetime() + timedelta(hours=1),
        )
        row = scores.loc[t]
        assert row["probability"] == pytest.approx(answer.probability, rel=1e-9, abs=1e-12)
        assert row["risk_level"] == answer.risk_level
        assert json.loads(row["drivers"]) == [d.model_dump(mode="json") for d in answer.drivers]
        assert json.loads(row["warnings"]) == [w.code for w in answer.warnings]
        assert row["features_present"] == answer.features_present
        # and the model on features_at of that window gives the same probability
        p = model.predict_proba(features_at(window))[0]
        assert answer.model_probability == pytest.approx(p, rel=1e-9)


def test_scores_land_in_the_scores_dataset(sim_store, model_dir, tmp_path):
    score_job(_request(sim_store, model_dir, tmp_path, start="2025-03-01", end="2025-03-02"))
    stored = ScoreStore(sim_store).read("BTC", "1h")
    assert len(stored) == 25
    assert stored["model"].iloc[0] == "flushrisk-BTC:local"
    assert set(stored["risk_level"]) <= {"low", "elevated", "high", "extreme"}
    assert "long liquidations" in stored["label"].iloc[0]


def test_bad_ranges_and_bars_are_refused(sim_store, model_dir, tmp_path):
    with pytest.raises(DataError, match="before"):
        score_job(_request(sim_store, model_dir, tmp_path, start="2025-03-05", end="2025-03-01"))
    with pytest.raises(DataError, match="trained on 1h bars"):
        score_job(_request(sim_store, model_dir, tmp_path, bar="5m"))


def test_score_command_writes_the_parquet_file(sim_store, model_dir, tmp_path):
    out = tmp_path / "cli.parquet"
    result = CliRunner().invoke(app, [
        "score", "--symbols", "BTC", "--data-dir", str(sim_store), "--model", str(model_dir),
        "--start", "2025-04-01", "--end", "2025-04-01 05:00", "--out", str(out), "--no-write-scores",
    ])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert list(table["symbol"].unique()) == ["BTC"] and len(table) == 6
    assert np.all((table["probability"] > 0) & (table["probability"] < 1))


def test_partitioned_scoring_equals_one_pass(sim_store, model_dir, tmp_path):
    """Task by task (months with a MIN_WINDOW margin, as on Dask) == one pass, bit for bit."""
    one = score_job(_request(sim_store, model_dir, tmp_path, write_scores=False))
    whole = pd.read_parquet(tmp_path / "probs.parquet")
    parts = score_job(ScoreRequest(data_dir=sim_store, symbols=["BTC"], model=str(model_dir),
                                   out=tmp_path / "parts.parquet", write_scores=False,
                                   scheduler="local-process", months_per_task=1))
    split = pd.read_parquet(tmp_path / "parts.parquet")
    assert parts.symbols["BTC"]["rows"] == one.symbols["BTC"]["rows"] == len(whole)
    pd.testing.assert_frame_equal(split, whole)


def test_every_scored_bar_equals_the_answer_path_of_predict(sim_frame, trained):
    """All rows (not a sample), with the trained model (its own calibrator and blend)."""
    from features import build_features
    from training.score import score_frame

    model, _ = trained
    predictor = Predictor(model, "flushrisk-btc", "local")
    frame = sim_frame.iloc[-24 * 40 :]
    scored = score_frame(predictor, frame, "BTC", "1h")
    rows = build_features(frame, bar="1h").to_numpy(np.float64)
    columns = [c for c in frame.columns if frame[c].notna().any()]
    answers = predictor.respond(["BTC"] * len(rows), rows,
                                [(None, predictor.row_warnings(r, columns)) for r in rows])
    assert len(scored) == len(answers) == 24 * 40
    assert scored["probability"].tolist() == [a.probability for a in answers]
    assert scored["risk_level"].tolist() == [a.risk_level for a in answers]
    assert scored["drivers"].tolist() == [json.dumps([d.model_dump(mode="json") for d in a.drivers])
                                          for a in answers]
    assert scored["warnings"].tolist() == [json.dumps([w.code for w in a.warnings]) for a in answers]
    assert scored["features_present"].tolist() == [a.features_present for a in answers]
    assert {"missing_signal_group", "missing_feature"} & {c for w in scored["warnings"] for c in json.loads(w)}


def test_drivers_only_where_asked_with_the_same_probabilities(sim_frame, trained):
    """--drivers top/none: every bar's probability (the booster's ordinary prediction, equal to
    /predict's within 1e-9), drivers exactly /predict's on the bars at or above the alert level
    (top) or on none, and has_drivers says which rows have them."""
    from training.score import score_frame

    model, _ = trained
    predictor = Predictor(model, "flushrisk-btc", "local")
    frame = sim_frame.iloc[-24 * 40 :]
    every = score_frame(predictor, frame, "BTC", "1h", drivers="all")
    top = score_frame(predictor, frame, "BTC", "1h", drivers="top")
    none = score_frame(predictor, frame, "BTC", "1h", drivers="none")
    for scored in (top, none):
        np.testing.assert_allclose(scored["probability"], every["probability"], rtol=1e-9, atol=1e-12)
        assert scored["risk_level"].tolist() == every["risk_level"].tolist()
        assert scored["warnings"].tolist() == every["warnings"].tolist()
    alert = top["probability"] >= model.alert_threshold
    assert alert.any() and not alert.all()  # both kinds of rows were compared
    assert top["has_drivers"].tolist() == alert.tolist() and every["has_drivers"].all()
    assert top["drivers"][alert].tolist() == every["drivers"][alert].tolist()
    assert (top["drivers"][~alert] == "[]").all() and not none["has_drivers"].any()


def test_stored_scores_say_which_rows_have_drivers(sim_store, model_dir, tmp_path):
    score_job(_request(sim_store, model_dir, tmp_path, start="2025-03-01", end="2025-03-10",
                       drivers="none"))
    stored = ScoreStore(sim_store).read("BTC", "1h")
    assert len(stored) == 9 * 24 + 1 and not stored["has_drivers"].any()
    assert (stored["drivers"] == "[]").all()
