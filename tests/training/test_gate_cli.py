"""The gate and the command line say what is true: promotion needs the verdict's CI above zero
(or --force, which says what it overrode), refusals exit non-zero, train and features build
default to the quickstart's label, `models` shows label and verdict, and `score` scores the
symbols it can and names the others."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import DataError
from features.label_defaults import (
    DEFAULT_BTC_THRESHOLD_USD,
    default_threshold_usd,
    resolve_threshold_usd,
)
from features.store import MarketStore
from tests.training.test_promote_gate import _register
from training.cli import app
from training.cli.train import promote_hint
from training.registry import EXIT_GATE_REFUSED, EXIT_NOT_BETTER, promote

runner = CliRunner()
ENV = {"COLUMNS": "400"}


def _promote(home, *extra):
    return runner.invoke(app, ["promote", "--symbol", "BTC", "--mlflow-home", str(home), *extra], env=ENV)


def test_the_gate_needs_the_verdict_ci_above_zero_and_force_says_what_it_overrode(
    mlflow_home, bentoml_home, trained, sim_windows
):
    # ahead on the point estimate, but the CI includes zero: "not clearly" is not promoted
    _register(mlflow_home, trained, sim_windows, margin=0.017, ci=[-0.001, 0.036])
    result = promote("BTC", home=mlflow_home)
    assert not result.promoted and result.exit_code == EXIT_GATE_REFUSED
    assert "not clearly (90% CI -0.001 to +0.036 includes zero)" in result.reason
    refused = _promote(mlflow_home)
    assert refused.exit_code == 3 and "not promoted" in refused.output
    forced = _promote(mlflow_home, "--force")
    assert forced.exit_code == 0
    assert "overriding: v1 is ahead of the best baseline by +0.017 PR-AUC but not clearly" in forced.output


def test_a_version_that_does_not_beat_the_champion_exits_4(mlflow_home, bentoml_home, trained, sim_windows):
    _register(mlflow_home, trained, sim_windows)
    assert _promote(mlflow_home).exit_code == 0
    _register(mlflow_home, trained, sim_windows)  # same evaluation, same PR-AUC: only ties
    again = _promote(mlflow_home)
    assert again.exit_code == EXIT_NOT_BETTER and "only ties" in again.output and "champion stays v1" in again.output


def test_a_label_change_refusal_says_why_and_how(mlflow_home, bentoml_home, trained, sim_windows):
    _register(mlflow_home, trained, sim_windows)  # the champion predicts 0.30 % of open interest
    assert promote("BTC", home=mlflow_home).promoted
    _register(mlflow_home, trained, sim_windows, label={"threshold_usd": 1.75e6}, digest="d2")
    result = promote("BTC", home=mlflow_home)
    assert not result.promoted and result.exit_code == EXIT_GATE_REFUSED
    assert "would change what the served probability means" in result.reason
    assert "train with --label liquidation --horizon 1h --threshold-oi-fraction 0.003" in result.reason
    assert "promote with --force" in result.reason


def test_models_shows_each_versions_label_threshold_and_verdict(mlflow_home, trained, sim_windows):
    _register(mlflow_home, trained, sim_windows, margin=0.02)
    _register(mlflow_home, trained, sim_windows, label={"threshold_usd": 1.75e6}, margin=0.017, ci=[-0.001, 0.036])
    listed = runner.invoke(app, ["models", "--mlflow-home", str(mlflow_home)], env=ENV)
    assert listed.exit_code == 0, listed.output
    assert "liq >= 0.30% OI / 1h" in listed.output and "liq >= $1.75M / 1h" in listed.output
    assert "beats +0.020 [+0.010, +0.070]" in listed.output
    assert "not clear +0.017 [-0.001, +0.036]" in listed.output


def test_train_and_features_build_default_to_the_quickstarts_label(sim_store, monkeypatch, tmp_path):
    assert default_threshold_usd("BTC") == DEFAULT_BTC_THRESHOLD_USD
    eth = DEFAULT_BTC_THRESHOLD_USD * 5e9 / 8e9  # scaled by market size (5e9 / 8e9)
    assert default_threshold_usd("ETH") == pytest.approx(eth, rel=1e-2)
    assert resolve_threshold_usd("liquidation", None, 0.003, "BTC") is None  # a share of OI was asked for
    assert resolve_threshold_usd("proxy", None, None, "BTC") is None

    import training.jobs

    seen = {}

    def capture(request, **_):
        seen["label"] = request.label
        raise DataError("captured")

    monkeypatch.setattr(training.jobs, "train_job", capture)
    out = runner.invoke(app, ["train", "--data-dir", str(sim_store), "--symbol", "ETH", "--no-register"], env=ENV)
    assert "captured" in out.output and seen["label"].threshold_usd == pytest.approx(eth, rel=1e-2)
    runner.invoke(app, ["train", "--data-dir", str(sim_store), "--threshold-oi-fraction", "0.003"], env=ENV)
    assert seen["label"].threshold_usd is None and seen["label"].threshold_oi_fraction == 0.003

    path = tmp_path / "w.parquet"
    built = runner.invoke(app, ["features", "build", "BTC", "--data-dir", str(sim_store), "--out", str(path)], env=ENV)
    assert built.exit_code == 0, built.output
    assert pd.read_parquet(path).attrs["flushrisk"]["label_spec"]["threshold_usd"] == DEFAULT_BTC_THRESHOLD_USD


def test_the_training_hint_names_the_store_and_warns_when_the_gate_will_refuse(tmp_path):
    clear = {"text": "model beats ...", "difference": 0.03, "ci": [0.01, 0.05]}
    hint = promote_hint("BTC", 2, clear, tmp_path)
    assert hint == f"promote it with: flushrisk promote --symbol BTC --version 2 --mlflow-home {tmp_path}"
    unclear = {"text": "model is ahead ...", "difference": 0.017, "ci": [-0.001, 0.036]}
    hint = promote_hint("BTC", 2, unclear, None)
    assert hint.startswith("the promotion gate will refuse it (v2 is ahead of the best baseline by +0.017")
    assert hint.endswith("flushrisk promote --symbol BTC --version 2 --force overrides")


def test_score_scores_the_symbols_with_a_champion_and_names_the_others(
    mlflow_home, bentoml_home, trained, sim_windows, sim_frame, tmp_path
):
    store = tmp_path / "store"
    for symbol in ("BTC", "ETH", "SOL"):
        MarketStore(store).write(symbol, sim_frame.iloc[-24 * 40:], source="simulator")
    _register(mlflow_home, trained, sim_windows)
    assert promote("BTC", home=mlflow_home).promoted
    _register(mlflow_home, trained, sim_windows, symbol="SOL", margin=-0.01)  # the gate refuses it
    out = runner.invoke(app, ["score", "--symbols", "BTC,ETH,SOL", "--data-dir", str(store), "--mlflow-home",
                              str(mlflow_home), "--no-write-scores", "--drivers", "none"], env=ENV)
    assert out.exit_code == 3, out.output  # the others were scored, and a script can tell
    text = " ".join(out.output.split())
    assert "flushrisk-BTC:1" in text  # BTC was scored
    assert "skipped: ETH: no trained model; train one: flushrisk train --symbol ETH" in text
    assert "skipped: SOL: no champion: the promotion gate refuses its latest version (v1 does not beat" in text
    assert "flushrisk promote --symbol SOL --force" in text
    none = runner.invoke(app, ["score", "--symbols", "ETH", "--data-dir", str(store), "--mlflow-home",
                               str(mlflow_home), "--no-write-scores"], env=ENV)
    assert none.exit_code == 2 and "nothing to score: ETH: no trained model" in none.output
