"""`flushrisk train --tune N`: tuning never sees an evaluated row, its choice is what trains the
final model, and every trial is an MLflow child run of the training run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli import app

runner = CliRunner()
ENV = {"COLUMNS": "160"}


@pytest.fixture
def seen(monkeypatch):
    """Every row time a booster was fitted on or asked to score, by any call of fit_booster."""
    from training import tuning

    times: list[pd.DatetimeIndex] = []
    real = tuning.fit_booster

    def spy(X, *args, **kwargs):
        times.append(X.index)
        fit = real(X, *args, **kwargs)
        original = fit.predict_raw

        def predict_raw(rows):
            times.append(rows.index)
            return original(rows)

        fit.predict_raw = predict_raw
        return fit

    monkeypatch.setattr(tuning, "fit_booster", spy)
    return times


def _train(store, home, report, *extra: str):
    args = ["train", "--data-dir", str(store), "--symbol", "BTC", "--bar", "1h", "--mlflow-home", str(home),
            "--folds", "3", "--max-rounds", "150", "--seeds", "1", "--bootstrap", "20", "--report", str(report),
            *extra]
    return runner.invoke(app, args, env=ENV)


def test_tune_trains_the_final_model_with_the_chosen_params_and_logs_child_runs(
    sim_store, mlflow_home, tmp_path, seen
):
    report_path = tmp_path / "report.json"
    result = _train(sim_store, mlflow_home, report_path, "--tune", "3", "--no-tune-guard")
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    tuning = report["tuning"]
    best = tuning["best"]
    # whichever trial scored best (the defaults are trial 0) is the one trained and registered
    scores = {t["number"]: t["score"] for t in tuning["trials"] if t["state"] == "complete"}
    assert best["number"] == max(scores, key=lambda n: (scores[n], -n)), scores

    # Honest by construction: every row a trial fitted or scored precedes the first outer test
    # block by at least the purge + embargo gap, so no evaluated row ever reached the tuner.
    assert seen, "the tuner fitted nothing"
    first_test = min(pd.Timestamp(f["test_start"]) for f in report["model"]["folds"])
    assert pd.Timestamp(tuning["outer_test_from"]) == first_test
    gap = pd.Timedelta(report["setup"]["walk_forward"]["wf_purge"]) + pd.Timedelta(
        report["setup"]["walk_forward"]["wf_embargo"]
    )
    assert max(index.max() for index in seen) < first_test - gap + pd.Timedelta("1ns")
    assert all(pd.Timestamp(t["seen_until"]) < first_test for t in tuning["trials"] if t["seen_until"])

    # The CLI shows a line per trial and the chosen parameters.
    out = " ".join(result.output.split())
    assert "trial 0 (defaults)" in out and "trial 2" in out
    assert f"num_leaves={best['params']['num_leaves']}" in out and "chosen:" in out
    assert "first outer fold" in report["tuning"]["design"]

    # The registered model IS the tuned one: its booster and blend carry the chosen values.
    from mlflow import MlflowClient

    from training.registry import resolve_model
    from training.tracking import tracking_uri

    model, _ = resolve_model("flushrisk-BTC/1", mlflow_home)
    params = model.booster.params
    assert params["num_leaves"] == best["params"]["num_leaves"]
    assert params["min_data_in_leaf"] == best["params"]["min_data_in_leaf"]
    assert params["learning_rate"] == pytest.approx(best["params"]["learning_rate"], rel=1e-5)
    assert model.metadata["blend"] == pytest.approx(best["blend"])
    assert model.metadata["tuning"]["params"] == best["params"]

    # MLflow: one child run per trial under the training run, the parent says what was chosen and how.
    client = MlflowClient(tracking_uri(mlflow_home))
    parent_id = report["mlflow"]["run_id"]
    parent = client.get_run(parent_id)
    assert parent.data.tags["tuning_design"] == tuning["design"]
    assert parent.data.params["tune_best_num_leaves"] == str(best["params"]["num_leaves"])
    assert parent.data.params["lgbm_num_leaves"] == str(best["params"]["num_leaves"])
    assert parent.data.metrics["tune_best_inner_pr_auc"] == pytest.approx(best["pr_auc"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    assert len(children) == len(tuning["trials"]) == 3
    by_name = {c.info.run_name: c for c in children}
    chosen = by_name[f"trial {best['number']}"]
    assert chosen.data.metrics["inner_pr_auc"] == pytest.approx(best["pr_auc"])
    assert chosen.data.params["num_leaves"] == str(best["params"]["num_leaves"])
    assert chosen.data.tags["best_trial"] == "true"
    assert all(c.data.metrics["duration_seconds"] > 0 for c in children)


def test_guard_keeps_the_defaults_unless_the_best_trial_is_clearly_better(sim_frame, sim_windows, fast_config):
    from training.tuning import TuneConfig, tune_walk_forward

    X, y, _ = sim_windows
    from tests.training.conftest import sim_strength

    result = tune_walk_forward(X, y, fast_config, sim_strength(sim_frame, X), TuneConfig(trials=3))
    guard = result.guard
    assert guard is not None, "on this seeded data a searched trial scores above the defaults on the inner rows"
    assert guard["clear"] == (guard["ci"][0] > 0)
    assert guard["ci"][0] <= guard["difference"] <= guard["ci"][1]
    if guard["clear"]:
        assert result.best_number == guard["trial"] != 0
        assert result.apply(fast_config).booster.params["num_leaves"] == result.best.params["num_leaves"]
    else:
        assert result.best_number == 0 and result.to_dict()["best"]["defaults_kept"]
        assert result.to_dict()["best"]["searched_best"] == guard["trial"]
        assert result.apply(fast_config) is fast_config  # the defaults, untouched


def test_untuned_training_logs_no_tuning(sim_store, mlflow_home, tmp_path):
    report_path = tmp_path / "report.json"
    result = _train(sim_store, mlflow_home, report_path, "--no-register")
    assert result.exit_code == 0, result.output
    assert "tuning" not in json.loads(report_path.read_text())
    assert "trial 0" not in result.output


def test_tuning_without_enough_early_positives_says_why(sim_frame, sim_windows):
    from features.errors import DataError
    from training.fit import TrainConfig
    from training.tuning import TuneConfig, tune_walk_forward
    from training.walkforward import WalkForwardConfig

    X, y, _ = sim_windows
    config = TrainConfig(walk_forward=WalkForwardConfig(n_folds=3, initial_train_fraction=0.05))
    with pytest.raises(DataError, match="before the first outer test block"):
        tune_walk_forward(X, y, config, options=TuneConfig(trials=1))


def test_tune_with_pooled_symbols_is_refused_clearly(sim_store, mlflow_home, tmp_path):
    result = _train(sim_store, mlflow_home, tmp_path / "r.json", "--symbols", "BTC", "--tune", "2")
    assert result.exit_code != 0
    assert "--tune works on one symbol" in result.output
    assert "Traceback" not in result.output
