"""The promotion gate: a champion cannot be replaced by a model that predicts something else,
that loses to a trivial baseline, or that is compared on rows it trained on, unless --force, which
says what it overrode. Also: a bare model name evaluates the champion, and a registration that
vanished with its store is never reported as done."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from models import FlushModel
from training.cli import app
from training.registry import promote, resolve_model
from training.tracking import log_training_run

runner = CliRunner()


def _register(home, trained, sim_windows, *, label=None, bar="1h", symbols=None, margin=0.02, digest="d1",
              ci=None, symbol="BTC"):
    """Log and register a version with a chosen label, bar, symbol set and protocol verdict."""
    model, _ = trained
    X, y, _ = sim_windows
    meta = {**model.metadata, "bar": bar, "symbol": symbol, "data_end": str(X.index[-1])}
    if symbols:
        meta["symbols"] = symbols
    spec = {**model.label_spec, **(label or {})}
    copy = FlushModel(model.booster, model.features, model.calibrator, spec, meta)
    ci = ci or [margin - 0.01, margin + 0.05]  # default: clearly ahead when the margin is clearly positive
    verdict = {"text": f"model vs persistence {margin:+.3f} PR-AUC", "beats": ci[0] > 0, "difference": margin,
               "ci": ci}
    report = {"model": {"pr_auc": 0.3, "brier": 0.02, "folds": []}, "persistence": {"pr_auc": 0.3 - margin},
              "verdict": verdict}
    _, version = log_training_run(
        symbol=symbol, bar=bar, home=home, params={f"label_{k}": str(v) for k, v in spec.items()},
        tags={"eval_digest": digest}, X=X.iloc[:200], y=y.iloc[:200],
        dataset_source="test", report=report, plots=[], model=copy,
    )
    return version


def test_promote_refuses_a_different_label_bar_or_symbol_set(mlflow_home, bentoml_home, trained, sim_windows):
    assert _register(mlflow_home, trained, sim_windows) == 1
    assert promote("BTC", home=mlflow_home).promoted
    _register(mlflow_home, trained, sim_windows, label={"kind": "proxy"}, bar="5m", symbols=["BTC", "ETH"], digest="d2")
    result = promote("BTC", home=mlflow_home)
    assert not result.promoted and result.reason.startswith("refused:")
    assert "label spec differs" in result.reason and "price low within 1h" in result.reason
    assert "5m bars but champion v1 for 1h" in result.reason
    assert "symbols BTC,ETH but champion v1 on BTC" in result.reason
    assert resolve_model("BTC", mlflow_home)[1]["mlflow_version"] == 1  # champion unchanged
    forced = promote("BTC", force=True, home=mlflow_home)
    assert forced.promoted and forced.reason.startswith("--force: v2 set as champion, overriding:")
    assert "label spec differs" in forced.reason and len(forced.overridden) == 3


def test_promote_refuses_a_candidate_that_does_not_beat_the_best_baseline(mlflow_home, bentoml_home, trained, sim_windows):
    _register(mlflow_home, trained, sim_windows, margin=-0.01)
    result = promote("BTC", home=mlflow_home)
    assert not result.promoted
    assert "does not beat the best baseline on its own out-of-fold rows" in result.reason
    assert "-0.010 PR-AUC" in result.reason  # the run's verdict, quoted
    refused = runner.invoke(app, ["promote", "--symbol", "BTC", "--mlflow-home", str(mlflow_home)],
                            env={"COLUMNS": "400"})
    assert refused.exit_code == 3 and "not promoted" in refused.output
    out = runner.invoke(app, ["promote", "--symbol", "BTC", "--force", "--mlflow-home", str(mlflow_home)],
                        env={"COLUMNS": "400"})
    assert out.exit_code == 0 and "overriding" in out.output and "does not beat" in out.output


def test_promote_refuses_to_compare_on_rows_either_model_trained_on(
    mlflow_home, bentoml_home, trained, sim_windows, sim_store
):
    _register(mlflow_home, trained, sim_windows)
    assert promote("BTC", home=mlflow_home).promoted
    _register(mlflow_home, trained, sim_windows, digest="d2")  # evaluated on other rows
    result = promote("BTC", home=mlflow_home, data_dir=sim_store, eval_from="2025-03-01")
    assert not result.promoted
    assert "include rows v2 (trained until" in result.reason and "and v1" in result.reason
    assert "--eval-from" in result.reason
    forced = promote("BTC", force=True, home=mlflow_home, data_dir=sim_store, eval_from="2025-03-01")
    assert forced.promoted


def test_evaluate_a_bare_name_scores_the_champion_and_says_which(mlflow_home, bentoml_home, trained, sim_windows):
    _register(mlflow_home, trained, sim_windows)
    assert promote("BTC", home=mlflow_home).promoted
    _register(mlflow_home, trained, sim_windows, digest="d2")  # newer, not champion
    _, source = resolve_model("flushrisk-BTC", mlflow_home)
    assert source["mlflow_version"] == 1 and source["source"] == "flushrisk-BTC v1 (@champion)"
    assert resolve_model("BTC/2", mlflow_home)[1]["mlflow_version"] == 2


def test_a_store_deleted_during_training_is_an_error_not_a_registration(
    sim_store, mlflow_home, tmp_path, monkeypatch
):
    import mlflow.lightgbm

    original = mlflow.lightgbm.log_model

    def log_then_lose_the_store(*args, **kwargs):
        info = original(*args, **kwargs)
        (mlflow_home / "mlflow.db").unlink()  # the store disappears late in training
        return info

    monkeypatch.setattr(mlflow.lightgbm, "log_model", log_then_lose_the_store)
    result = runner.invoke(
        app,
        ["train", "--data-dir", str(sim_store), "--mlflow-home", str(mlflow_home), "--folds", "2",
         "--seeds", "1", "--max-rounds", "50", "--bootstrap", "50"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2, result.output
    assert "NOT registered" in result.output and "registered flushrisk-BTC" not in result.output


@pytest.fixture(autouse=True)
def _quiet_mlflow(monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
