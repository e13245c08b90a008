"""train -> promote -> load the champion, through the CLI, on a small simulated store."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from models import FlushModel
from training.cli import app

runner = CliRunner()
ENV = {"COLUMNS": "160"}


def _train(store, home, *extra: str, report=None):
    args = ["train", "--data-dir", str(store), "--symbol", "BTC", "--bar", "1h", "--mlflow-home", str(home),
            "--folds", "3", "--max-rounds", "150", *extra]
    if report is not None:
        args += ["--report", str(report)]
    return runner.invoke(app, args, env=ENV)


def test_train_promote_and_load_the_champion(sim_store, mlflow_home, bentoml_home, tmp_path):
    report_path = tmp_path / "report.json"
    result = _train(sim_store, mlflow_home, report=report_path)
    assert result.exit_code == 0, result.output
    assert "fold 2" in result.output and "logistic" in result.output and "registered flushrisk-BTC v1" in result.output

    report = json.loads(report_path.read_text())
    assert {"model", "base_rate", "logistic", "rule", "persistence", "volatility", "verdict", "setup", "events"} <= set(report)
    assert report["model"]["ci"]["pr_auc"][0] < report["model"]["pr_auc"] < report["model"]["ci"]["pr_auc"][1]
    assert report["persistence"]["vs_model"]["pr_auc"]["ci"][0] is not None
    assert len(report["model"]["folds"]) == 3
    assert report["model"]["pr_auc"] > report["base_rate"]["pr_auc"]
    assert report["setup"]["label_spec"]["kind"] == "liquidation"
    from mlflow import MlflowClient

    from training.tracking import tracking_uri

    run = MlflowClient(tracking_uri(mlflow_home)).get_run(report["mlflow"]["run_id"])
    assert run.data.params["training_target"].startswith("near_miss")  # what the booster trained on
    # data lineage: the Delta table version the run read
    from features.partitioned import table_version
    from features.store import MarketStore

    stored = table_version(MarketStore(sim_store).path("BTC", "1h"))
    assert run.data.tags["data_version.BTC.1h"] == str(stored)
    assert report["setup"].get("data_versions", {"BTC/1h": stored}) == {"BTC/1h": stored}

    # The report leads with the verdict, and the gate follows it: a first version becomes
    # champion only if it beats the best baseline on its own out-of-fold rows.
    assert result.output.index("verdict: model") < result.output.index("out-of-sample, model vs baselines")
    verdict = report["verdict"]
    assert " ".join(verdict["text"].split()) in " ".join(result.output.split())
    assert len(verdict["lines"]) == 2 and verdict["lines"][1].startswith("onsets warned at equal alert budget")
    assert "fold 0 tests " in result.output and report["setup"]["fold_periods"][0]["test_rows"] > 0
    # the hint names the store the run went to, or says the gate will refuse the version
    hint = " ".join(result.output.split())
    if verdict["beats"]:
        assert f"promote it with: flushrisk promote --symbol BTC --version 1 --mlflow-home {mlflow_home}" in hint
    else:
        assert "the promotion gate will refuse it (v1 " in hint and "--force overrides" in hint
    promoted = runner.invoke(app, ["promote", "--symbol", "BTC", "--mlflow-home", str(mlflow_home)], env=ENV)
    if verdict["beats"]:  # the gate needs the verdict's CI above zero, not only a positive margin
        assert promoted.exit_code == 0, promoted.output
        assert "no current champion" in promoted.output and "flushrisk-btc:" in promoted.output
    else:
        assert promoted.exit_code == 3 and "refused: v1 " in promoted.output
        promoted = runner.invoke(app, ["promote", "--symbol", "BTC", "--force", "--mlflow-home", str(mlflow_home)], env=ENV)
        assert promoted.exit_code == 0 and "overriding: v1 " in promoted.output and "flushrisk-btc:" in promoted.output

    # The export goes to the configured store even when this process already used another one.
    from bentoml._internal.models import ModelStore

    stored = ModelStore(str(bentoml_home / "models")).get("flushrisk-btc:latest")
    assert stored.info.labels["symbol"] == "BTC" and stored.info.labels["mlflow_version"] == "1"
    champion = FlushModel.load(stored.path)
    assert champion.metadata["mlflow_version"] == 1
    assert champion.metadata["mlflow_run_id"] == report["mlflow"]["run_id"]
    p = champion.predict_proba(np.zeros((1, len(champion.features))))
    assert 0 < p[0] < 1

    listed = runner.invoke(app, ["models", "--mlflow-home", str(mlflow_home)], env=ENV)
    assert listed.exit_code == 0 and "champion" in listed.output

    # A second identical run ties on the same evaluation data: it must not replace the champion.
    assert _train(sim_store, mlflow_home).exit_code == 0
    again = runner.invoke(app, ["promote", "--symbol", "BTC", "--mlflow-home", str(mlflow_home)], env=ENV)
    assert again.exit_code == (4 if verdict["beats"] else 3)  # a retraining script can tell
    assert "not promoted" in again.output
    assert ("same walk-forward evaluation" if verdict["beats"] else "the best baseline") in again.output
    forced = runner.invoke(app, ["promote", "--symbol", "BTC", "--force", "--mlflow-home", str(mlflow_home)], env=ENV)
    assert "champion:" in forced.output and "v2" in forced.output
    assert ModelStore(str(bentoml_home / "models")).get("flushrisk-btc:latest").info.labels["mlflow_version"] == "2"

    evaluated = runner.invoke(
        app,
        ["evaluate", "flushrisk-BTC", "--data-dir", str(sim_store), "--symbol", "BTC", "--folds", "2",
         "--mlflow-home", str(mlflow_home), "--report", str(tmp_path / "eval.json")],
        env=ENV,
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "scored flushrisk-BTC v2 (@champion)" in evaluated.output
    assert "0 rounds" not in evaluated.output and "not refitted" in evaluated.output
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    assert {"model", "logistic", "rule"} <= set(evaluation)
    assert evaluation["setup"]["in_sample"] > 0 and "in-sample" in evaluated.output


def test_train_with_test_from_reports_one_split(sim_store, mlflow_home, tmp_path):
    result = _train(sim_store, mlflow_home, "--test-from", "2025-04-15", "--no-register", report=tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report["model"]["folds"]) == 1
    assert report["setup"]["evaluated_from"].startswith("2025-04-15")
    # reported the same way as the walk-forward: verdict, CIs, paired gaps, event study
    assert " ".join(report["verdict"]["text"].split()) in " ".join(result.output.split())
    assert report["model"]["ci"]["pr_auc"][0] is not None and "vs_model" in report["persistence"]
    assert report["events"]["predictors"]["persistence"]["false_alarms_per_week"] is not None
    assert "mlflow" not in report


@pytest.mark.parametrize(
    "args,message",
    [
        (["--symbol", "ETH"], "no data for 'ETH'"),
        (["--threshold-usd", "1e15"], "positive labels"),
        (["--test-from", "2031-01-01"], "outside the data"),
    ],
)
def test_bad_requests_exit_2_with_a_clear_message(sim_store, mlflow_home, args, message):
    result = runner.invoke(
        app, ["train", "--data-dir", str(sim_store), "--mlflow-home", str(mlflow_home), "--no-register", *args], env=ENV
    )
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_promote_and_evaluate_without_a_store_say_so(tmp_path):
    result = runner.invoke(app, ["promote", "--mlflow-home", str(tmp_path / "none")], env=ENV)
    assert result.exit_code == 2 and "no MLflow store" in result.output
    result = runner.invoke(app, ["evaluate", "BTC@champion", "--mlflow-home", str(tmp_path / "none")], env=ENV)
    assert result.exit_code == 2 and "no MLflow store" in result.output


def test_ui_command_uses_the_store_one_worker_and_no_job_runner(mlflow_home):
    from training.cli.train import ui_command

    cmd, env = ui_command(mlflow_home, "127.0.0.1", 5055, "1")
    assert cmd[cmd.index("--workers") + 1] == "1"
    assert str((mlflow_home / "mlflow.db").resolve()) in cmd[cmd.index("--backend-store-uri") + 1]
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
