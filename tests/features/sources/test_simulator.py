"""The market simulator as users call it: the frame it returns, its inputs, its config, its CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from features.errors import DataError
from features.schema import COLUMNS, SIGNAL_GROUPS, find_gaps, signal_groups, validate_frame
from features.sources.simulator import PRESETS, SimConfig, load_config, simulate, simulate_markets
from features.sources.simulator.config import base_asset, derive
from features.store import MarketStore, resample
from training.cli import app

START = pd.Timestamp("2025-01-01", tz="UTC")


@pytest.fixture(scope="module")
def two_days_1m() -> pd.DataFrame:
    return simulate("BTC", days=2, bar="1m", seed=3)


def test_frame_is_canonical_with_every_column_and_no_gaps(two_days_1m):
    frame = two_days_1m
    assert list(frame.columns) == list(COLUMNS)
    assert validate_frame(frame, "sim").equals(frame)
    assert frame.notna().all().all()
    assert signal_groups(frame) == list(SIGNAL_GROUPS)  # every group, in canonical order
    assert frame.index[0] == START
    assert len(frame) == 2 * 1440
    assert find_gaps(frame.index, "1m").empty
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["bid_depth_2pct_usd"] > frame["bid_depth_1pct_usd"]).all()
    assert ((frame["taker_buy_ratio"] > 0) & (frame["taker_buy_ratio"] < 1)).all()


@pytest.mark.parametrize("bar, rows", [("5m", 576), ("15m", 192), ("30m", 96), ("1h", 48)])
def test_every_bar_is_supported(bar, rows):
    frame = simulate("ETH", days=2, bar=bar, seed=1)
    assert len(frame) == rows
    assert find_gaps(frame.index, bar).empty
    assert frame.index[1] - frame.index[0] == pd.Timedelta(bar.replace("m", "min"))


def test_same_seed_gives_identical_bits_and_another_seed_does_not(two_days_1m):
    again = simulate("BTC", days=2, bar="1m", seed=3)
    pd.testing.assert_frame_equal(two_days_1m, again, check_exact=True)
    assert np.array_equal(two_days_1m.to_numpy(), again.to_numpy())
    other = simulate("BTC", days=2, bar="1m", seed=4)
    assert not np.allclose(two_days_1m["close"].to_numpy(), other["close"].to_numpy())


def test_coarse_bars_aggregate_the_same_minutes(two_days_1m):
    """An hourly frame is the hourly resample of the 1-minute frame of the same seed."""
    hourly = simulate("BTC", days=2, bar="1h", seed=3)
    pd.testing.assert_frame_equal(resample(two_days_1m, "1h"), hourly, rtol=1e-9, check_freq=False)


def test_a_shorter_run_is_the_beginning_of_a_longer_one():
    short = simulate("SOL", days=1, bar="5m", seed=9)
    long = simulate("SOL", days=3, bar="5m", seed=9)
    pd.testing.assert_frame_equal(long.iloc[: len(short)], short, check_exact=True)


@pytest.mark.parametrize(
    "symbol, low, high", [("BTC", 60_000, 130_000), ("ETH", 2_000, 4_500), ("SOL", 90, 230)]
)
def test_symbols_trade_near_their_real_levels(symbol, low, high):
    frame = simulate(symbol, days=5, bar="1h", seed=2)
    assert low < frame["close"].iloc[0] < high
    oi = frame["open_interest_usd"].median()
    assert 1e8 < oi < 2e10


def test_alt_is_more_volatile_than_btc():
    vols = {
        s: np.log(simulate(s, days=365, bar="1h", seed=5)["close"]).diff().std()
        for s in ("BTC", "SOL")
    }
    assert vols["SOL"] > 1.3 * vols["BTC"]


def test_symbol_aliases_name_the_same_market():
    assert (
        base_asset("btc/usdt:usdt") == base_asset("BTC-USDT-SWAP") == base_asset("BTCUSDT") == "BTC"
    )
    a = simulate("BTC-USDT", days=1, bar="1h", seed=1)
    b = simulate("BTC", days=1, bar="1h", seed=1)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_unknown_symbols_get_a_deterministic_generic_market():
    a = simulate("PEPE", days=1, bar="1h", seed=1)
    b = simulate("PEPE", days=1, bar="1h", seed=1)
    c = simulate("WIF", days=1, bar="1h", seed=1)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a["close"].iloc[0] != pytest.approx(c["close"].iloc[0], rel=0.05)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"days": 0}, "days must be a positive"),
        ({"days": 1 / 1440}, "fewer than 2 bars"),
        ({"bar": "2m"}, "unsupported bar"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"preset": "bullish"}, "presets: default, calm, leveraged-bull, crash-prone"),
        ({"symbol": "BTC USD!"}, "invalid symbol"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(DataError, match=message):
        simulate(**{"days": 1, "bar": "1h", **kwargs})


def test_simulate_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    simulate("BTC", days=1, bar="1h", seed=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_gives_a_valid_frame(preset):
    frame = simulate("BTC", days=3, bar="1h", seed=1, preset=preset)
    validate_frame(frame, preset)
    assert frame.notna().all().all()


def test_config_validates_every_parameter():
    with pytest.raises(ValidationError, match="depth_1pct_fraction"):
        SimConfig(depth={"depth_1pct_fraction": -1})
    with pytest.raises(ValidationError, match="maintenance_margin"):
        SimConfig(leverage={"maintenance_margin": 0.02})  # 1/100x = 0.01 < 0.02
    with pytest.raises(ValidationError, match="switch_weights"):
        SimConfig(regimes={"switch_weights": [[1, 0], [0, 1]]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        SimConfig(depth={"depth_1pct": 0.1})


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "depth": {"depth_1pct_fraction": 0.001, "vol_elasticity": 5, "min_fraction": 0.001},
            "leverage": {"greed_tilt": 5},
            "positioning": {"speculative_share": 1.0},
        },
        {
            "regimes": {
                "stressed": {
                    "vol_multiplier": 20,
                    "mean_hours": 1000,
                    "jumps_per_day": 100,
                    "jump_std": 0.5,
                }
            }
        },
        {"funding": {"cap": 0.05, "clamp": 0.01}, "premium": {"per_imbalance": 0.1}},
        {
            "positioning": {"momentum_sensitivity": 5, "funding_sensitivity": 0, "flow_noise": 3},
            "liquidation": {"flow_impact": 5, "index_transmission": 1},
        },
    ],
    ids=["no-depth-all-leverage", "permanent-stress", "wild-funding", "pure-momentum"],
)
def test_extreme_but_valid_configs_still_give_valid_frames(overrides):
    """Whatever the config validates, the market stays finite and the frame canonical."""
    frame = simulate(
        "SOL", days=20, bar="1h", seed=1, config=derive(PRESETS["crash-prone"], **overrides)
    )
    assert np.isfinite(frame.to_numpy()).all()
    validate_frame(frame, "extreme")


def test_config_changes_the_market():
    deep = derive(PRESETS["default"], depth={"depth_1pct_fraction": 0.2})
    thin = simulate("BTC", days=5, bar="1h", seed=1)
    frame = simulate("BTC", days=5, bar="1h", seed=1, config=deep)
    assert frame["bid_depth_1pct_usd"].median() > 3 * thin["bid_depth_1pct_usd"].median()


def test_config_can_add_a_symbol_profile():
    cfg = derive(
        PRESETS["default"],
        symbols={"ABC": {"start_price": 42.0, "annual_vol": 0.6, "market_size_usd": 1e9}},
    )
    frame = simulate("ABC", days=1, bar="1h", seed=1, config=cfg)
    assert 30 < frame["close"].iloc[0] < 55


def test_load_config_applies_overrides_on_a_preset(tmp_path):
    path = tmp_path / "sim.yaml"
    path.write_text("preset: crash-prone\ndepth:\n  depth_1pct_fraction: 0.02\n")
    cfg = load_config(path)
    assert cfg.depth.depth_1pct_fraction == 0.02
    assert cfg.leverage == PRESETS["crash-prone"].leverage
    json_path = tmp_path / "sim.json"
    json_path.write_text(json.dumps({"funding": {"cap": 0.001}}))
    assert load_config(json_path, preset="calm").funding.cap == 0.001
    assert load_config(json_path, preset="calm").depth == PRESETS["calm"].depth


@pytest.mark.parametrize(
    "text, message",
    [
        ("depth:\n  depth_1pct_fraction: -3\n", "depth.depth_1pct_fraction"),
        ("depht:\n  x: 1\n", "depht"),
        ("preset: wild\n", "unknown simulator preset 'wild'"),
        ("- 1\n- 2\n", "must be a mapping"),
        ("depth: [\n", "not valid"),
    ],
)
def test_bad_config_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        load_config(path)
    assert "bad.yaml" in str(info.value) or "wild" in str(info.value)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="cannot read simulator config"):
        load_config(tmp_path / "absent.yaml")


# --- CLI ---------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_cli_writes_the_simulated_frames_into_the_store(tmp_path):
    result = runner.invoke(
        app,
        [
            "data",
            "simulate",
            "--symbols",
            "BTC,ETH",
            "--days",
            "2",
            "--bar",
            "1h",
            "--seed",
            "3",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    store = MarketStore(tmp_path)
    assert sorted((d.symbol, d.bar, d.rows) for d in store.datasets()) == [
        ("BTC", "1h", 48),
        ("ETH", "1h", 48),
    ]
    # several symbols are one correlated market: ETH follows BTC's factor
    expected = simulate_markets(["BTC", "ETH"], days=2, bar="1h", seed=3)["ETH"]
    pd.testing.assert_frame_equal(store.read("ETH"), expected, check_exact=True)
    assert "BTC" in result.output and "ETH" in result.output


def test_cli_reads_a_config_file(tmp_path):
    config = tmp_path / "deep.yaml"
    config.write_text("depth:\n  depth_1pct_fraction: 0.2\n")
    result = runner.invoke(
        app,
        [
            "data",
            "simulate",
            "--days",
            "2",
            "--bar",
            "1h",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    expected = simulate("BTC", days=2, bar="1h", seed=7, config=load_config(config))
    pd.testing.assert_frame_equal(MarketStore(tmp_path).read("BTC"), expected, check_exact=True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "wild"], "unknown simulator preset"),
        (["--bar", "3h"], "unsupported bar"),
        (["--symbols", " , "], "at least one symbol"),
        (["--days", "-1"], "days must be a positive"),
    ],
)
def test_cli_user_errors_exit_2_with_a_message_and_write_nothing(tmp_path, args, message):
    result = runner.invoke(app, ["data", "simulate", "--data-dir", str(tmp_path / "store"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "store").exists()
