"""The MLflow side reads well: run names say symbol, label, bar and when; the run lasts the training; the description leads
with the verdict; few metrics, per-fold figures as one series; the registry is described; the
experiment opens in the model-training view."""

from __future__ import annotations

from mlflow import MlflowClient

from training.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, log_training_run, tracking_uri


def test_a_training_run_is_readable_in_mlflow(mlflow_home, trained, sim_windows, tmp_path):
    model, _ = trained
    X, y, _ = sim_windows
    folds = [{"fold": k, "pr_auc": 0.2 + 0.05 * k, "roc_auc": 0.9, "brier_skill": 0.1, "ece": 0.01} for k in range(3)]
    report = {
        "verdict": {"text": "model beats best baseline persistence by +0.030 PR-AUC (90% CI +0.010 to +0.050)",
                    "status": "beats", "beats": True, "difference": 0.03, "ci": [0.01, 0.05]},
        "model": {"pr_auc": 0.3, "ece": 0.01, "base_rate": 0.03, "calibration_slope": 1.0,
                  "ci": {"pr_auc": [0.2, 0.4]}, "folds": folds},
        "persistence": {"pr_auc": 0.27, "brier": 0.02, "vs_model": {"pr_auc": {"value": 0.03, "ci": [0.01, 0.05]}}},
        "setup": {"symbol": "BTC", "bar": "1h", "label": "long liquidations >= 0.30% of open interest within 1h",
                  "label_spec": {"kind": "liquidation", "horizon": "1h", "threshold_oi_fraction": 0.003},
                  "data_start": "2025-01-01", "data_end": "2025-05-30", "groups": ["liquidations"], "folds": 3},
        "events": {"summary": "onsets: model warned before 3/5 (60%)", "predictors": {"model": {"onset_hit_rate": 0.6}}},
    }
    started = 1_767_225_600_000 - 169_000  # the training began 169 s before 2026-01-01 00:00 UTC
    run_id, version = log_training_run(
        symbol="BTC", bar="1h", home=mlflow_home, params={}, tags={"data_dir": str(tmp_path / "sim-data")},
        X=X.iloc[:100], y=y.iloc[:100], dataset_source="x", report=report, plots=[], model=model,
        started_ms=started,
    )
    client = MlflowClient(tracking_uri(mlflow_home))
    run = client.get_run(run_id)
    # symbol, label, bar and when (not the data folder's name)
    assert run.info.run_name == "BTC liq>=0.30%OI/1h 1h · 2025-12-31 23:57 UTC"
    # the run covers the whole training: its duration is not just the logging
    assert run.info.start_time == started and run.info.end_time - run.info.start_time >= 169_000
    assert run.data.tags["data_dir"].endswith("sim-data")
    assert run.data.tags["mlflow.note.content"].startswith("**Verdict:** model beats best baseline persistence")
    metrics = run.data.metrics
    assert {"pr_auc", "pr_auc_ci_lo", "vs_best_baseline_pr_auc", "persistence_pr_auc",
            "model_minus_persistence_pr_auc", "onset_hit_rate"} <= set(metrics)
    assert "persistence_brier" not in metrics and len(metrics) < 30
    series = client.get_metric_history(run_id, "fold_pr_auc")
    assert [m.step for m in series] == [0, 1, 2]
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    mv = client.get_model_version("flushrisk-BTC", str(version))
    assert mv.description.startswith("**Verdict:**") and mv.tags["label_kind"] == "liquidation"
    assert mv.tags["beats_best_baseline"] == "true"
    assert "champion" in client.get_registered_model("flushrisk-BTC").description
