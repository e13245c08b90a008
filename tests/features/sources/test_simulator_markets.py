"""Correlated markets: symbols share BTC's market factor, so a BTC drop can cascade into alts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.sources.simulator import simulate, simulate_markets
from features.store import MarketStore
from training.cli import app

DAYS = 200


@pytest.fixture(scope="module")
def joint() -> dict[str, pd.DataFrame]:
    return simulate_markets(["BTC", "ETH", "SOL"], days=DAYS, bar="1h", seed=4)


def _returns(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.DataFrame({k: np.log(v["close"]).diff() for k, v in frames.items()}).dropna()


def test_same_seed_same_markets_and_btc_is_its_single_market(joint):
    again = simulate_markets(["BTC", "ETH", "SOL"], days=DAYS, bar="1h", seed=4)
    for name in joint:
        pd.testing.assert_frame_equal(joint[name], again[name])
    pd.testing.assert_frame_equal(joint["BTC"], simulate("BTC", days=DAYS, bar="1h", seed=4))
    other = simulate_markets(["BTC", "ETH"], days=DAYS, bar="1h", seed=5)
    assert not np.allclose(other["ETH"]["close"], joint["ETH"]["close"])


def test_one_symbol_alone_is_exactly_simulate():
    alone = simulate_markets(["ETH"], days=3, bar="1h", seed=2)["ETH"]
    pd.testing.assert_frame_equal(alone, simulate("ETH", days=3, bar="1h", seed=2))


def test_alts_follow_btc_with_betas_above_one(joint):
    r = _returns(joint)
    beta = r.cov()["BTC"] / r["BTC"].var()
    corr = r.corr()["BTC"]
    assert 1.1 < beta["ETH"] < 1.7, beta
    assert 1.1 < beta["SOL"] < 1.9, beta
    assert corr["ETH"] > 0.7 and corr["SOL"] > 0.55, corr


def test_a_btc_flush_hour_is_a_flush_hour_for_alts_too(joint):
    def liq_oi(frame):
        return frame["long_liq_usd"] / frame["open_interest_usd"].shift(1)

    btc = liq_oi(joint["BTC"])
    btc_flush = btc >= btc.quantile(0.98)
    for alt in ("ETH", "SOL"):
        alt_liq = liq_oi(joint[alt])
        alt_flush = alt_liq >= alt_liq.quantile(0.94)
        # flush hazard of the alt in BTC's flush hours, against all hours
        assert alt_flush[btc_flush].mean() > 4 * alt_flush.mean(), alt


def test_each_alt_alone_behaves_like_it_does_in_the_joint_market(joint):
    for alt in ("ETH", "SOL"):
        alone = simulate(alt, days=DAYS, bar="1h", seed=4)
        vol_joint = np.log(joint[alt]["close"]).diff().std()
        vol_alone = np.log(alone["close"]).diff().std()
        assert vol_joint == pytest.approx(vol_alone, rel=0.3), alt
        share = {
            k: (f["long_liq_usd"] >= 0.003 * f["open_interest_usd"].shift(1)).mean()
            for k, f in (("joint", joint[alt]), ("alone", alone))
        }
        assert share["joint"] == pytest.approx(share["alone"], rel=0.6, abs=0.004), (alt, share)


def test_cli_simulates_several_symbols_together(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    data = tmp_path / "data"
    result = CliRunner().invoke(
        app,
        [
            "data",
            "simulate",
            "--symbols",
            "BTC,ETH",
            "--days",
            "3",
            "--bar",
            "1h",
            "--seed",
            "3",
            "--data-dir",
            str(data),
        ],
    )
    assert result.exit_code == 0, result.output
    store = MarketStore(data)
    expected = simulate_markets(["BTC", "ETH"], days=3, bar="1h", seed=3)
    for name in ("BTC", "ETH"):
        pd.testing.assert_frame_equal(store.read(name, "1h"), expected[name], check_freq=False)
