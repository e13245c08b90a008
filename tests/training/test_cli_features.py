"""``flushrisk features build``: labelled windows from the store to a Parquet file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features import FEATURES, LabelSpec
from features.store import MarketStore
from tests.features.feature_frames import cached_simulated
from training.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("store")
    MarketStore(root).write("BTC", cached_simulated(days=12, bar="5m"), source="simulator")
    frame = cached_simulated(days=12, bar="1h").drop(columns=["long_liq_usd", "short_liq_usd"])
    MarketStore(root).write("NOLIQ", frame, source="simulator")
    return root


def _run(*args: str):
    return runner.invoke(app, ["features", "build", *args], env={"COLUMNS": "160"})


def test_build_writes_the_labelled_windows_and_prints_a_summary(store, tmp_path):
    out = tmp_path / "btc.parquet"
    result = _run("BTC", "--data-dir", str(store), "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert list(table.columns) == [*FEATURES, "label"]
    assert table["label"].notna().all()
    meta = table.attrs["flushrisk"]
    assert meta["symbol"] == "BTC" and meta["bar"] == "1h"
    assert meta["rows"] == len(table) and meta["positives"] == int(table["label"].sum())
    # the default label is the quickstart's (features.label_defaults), not the 0.30 %-of-OI spec
    from features.label_defaults import default_threshold_usd

    assert LabelSpec.model_validate(meta["label_spec"]) == LabelSpec(threshold_usd=default_threshold_usd("BTC"))
    for text in ("rows", f"{len(table):,}", "positives", "base rate", "open_interest", str(out)):
        assert text in result.output
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file behind


def test_build_proxy_label_with_stride_on_finer_bars(store, tmp_path):
    out = tmp_path / "proxy.parquet"
    result = _run(
        "BTC",
        "--data-dir",
        str(store),
        "--out",
        str(out),
        "--label",
        "proxy",
        "--bar",
        "5m",
        "--stride",
        "1h",
        "--horizon",
        "2h",
        "--k-vol",
        "2.5",
    )
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert (table.index.minute == 0).all()
    spec = LabelSpec.model_validate(table.attrs["flushrisk"]["label_spec"])
    assert (spec.kind, spec.horizon, spec.k_vol) == ("proxy", pd.Timedelta("2h"), 2.5)


def test_build_defaults_to_a_file_beside_the_store(store):
    result = _run("BTC", "--data-dir", str(store), "--threshold-usd", "1e7")
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(store / "windows" / "BTC-1h-liquidation.parquet")
    assert table.attrs["flushrisk"]["label_spec"]["threshold_usd"] == 1e7


@pytest.mark.parametrize(
    "args, message",
    [
        (["ETH"], "no data for 'ETH'"),
        (["NOLIQ"], "long_liq_usd"),
        (["BTC", "--horizon", "soon"], "--horizon"),
        (["BTC", "--threshold-oi-fraction", "3"], "--threshold-oi-fraction"),
        (["BTC", "--bar", "2h"], "unsupported bar"),
        (["BTC", "--stride", "7min"], "multiple"),
    ],
)
def test_bad_requests_exit_2_with_a_message_and_write_nothing(store, tmp_path, args, message):
    out = tmp_path / "never.parquet"
    result = _run(*args, "--data-dir", str(store), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_proxy_label_works_on_data_without_liquidations(store, tmp_path):
    out = tmp_path / "noliq.parquet"
    result = _run("NOLIQ", "--data-dir", str(store), "--out", str(out), "--label", "proxy")
    assert result.exit_code == 0, result.output
    assert "liquidations" not in pd.read_parquet(out).attrs["flushrisk"]["groups"]
