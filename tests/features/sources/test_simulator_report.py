"""The realism report: each stylised fact measured right, unsupported facts named, CLI table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import DataError
from features.sources.simulator import simulate
from features.sources.simulator.realism import (
    FACT_KEYS,
    _hill,
    hazard_ratio,
    stylised_facts,
)
from features.store import MarketStore
from tests.conftest import shared_file
from training.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def sim_year() -> pd.DataFrame:
    return simulate("BTC", days=120, bar="1h", seed=5)


def test_hill_estimator_recovers_a_pareto_tail():
    rng = np.random.default_rng(0)
    x = rng.pareto(1.4, 200_000) + 1.0
    assert _hill(x) == pytest.approx(1.4, rel=0.1)


def test_hazard_ratio_of_a_perfect_signal_and_of_noise():
    rng = np.random.default_rng(1)
    n = 5000
    signal = pd.Series(rng.standard_normal(n))
    top = signal >= signal.quantile(0.9)
    perfect = top.astype(float)  # flush next hour exactly when the signal is in its top decile
    hr = hazard_ratio(signal, perfect, reps=200)
    assert hr.value == pytest.approx(1 / perfect.mean(), rel=1e-9)
    noise = pd.Series((rng.random(n) < 0.06).astype(float))
    hr = hazard_ratio(signal, noise, reps=300)
    assert hr.ci[0] < 1.0 < hr.ci[1]
    assert hr.ci[0] < hr.value < hr.ci[1]


def test_hazard_ratio_needs_flushes():
    signal = pd.Series(np.arange(1000.0))
    assert hazard_ratio(signal, pd.Series(np.zeros(1000))).missing.startswith("too few")


def test_every_fact_is_measured_on_a_simulated_frame(sim_year):
    facts = stylised_facts(sim_year, reps=50)
    assert facts.supported() == list(FACT_KEYS)
    liq_oi = sim_year["long_liq_usd"] / sim_year["open_interest_usd"].shift(1)
    assert facts.value("liq_oi_median_bp") == pytest.approx(liq_oi.median() * 1e4)
    assert facts.value("large_liq_share_pct") == pytest.approx(
        (liq_oi.dropna() >= 0.003).mean() * 100
    )
    for key in ("hr_funding", "hr_oi_growth", "hr_above_low", "hr_last_liq"):
        v = facts.values[key]
        assert v.ci[0] <= v.value <= v.ci[1], key


def test_finer_bars_are_resampled_and_coarser_refused(sim_year):
    minutes = simulate("BTC", days=3, bar="5m", seed=2)
    hourly = simulate("BTC", days=3, bar="1h", seed=2)
    a, b = stylised_facts(minutes, reps=0), stylised_facts(hourly, reps=0)
    assert a.value("funding_median_bp") == pytest.approx(b.value("funding_median_bp"))
    assert a.value("kurtosis") == pytest.approx(b.value("kurtosis"), rel=1e-6)
    four_hourly = sim_year.iloc[::4]
    with pytest.raises(DataError, match="bar"):
        stylised_facts(four_hourly)


def test_okx_data_without_liquidations_reports_those_facts_as_unsupported():
    from features.sources.okx import import_okx_hourly

    facts = stylised_facts(import_okx_hourly(shared_file("okx_btc_usd_swap_1h.csv")), reps=0)
    assert facts.supported() == [
        "kurtosis",
        "abs_acf_24h",
        "funding_median_bp",
        "funding_q95_bp",
        "corr_funding_oi",
        "oi_growth_sd_pct",
        "oi_coin_1h_sd_pct",
    ]
    # the hourly churn of OI in coins is the built-in reference's figure (an inverse contract:
    # its OI in USD hardly moves with the price, its coins do)
    assert facts.value("oi_coin_1h_sd_pct") == pytest.approx(0.683, abs=0.005)
    assert facts.values["hr_funding"].missing == "no long_liq_usd"
    assert facts.value("funding_q95_bp") == pytest.approx(1.0, abs=0.05)  # the figure


def test_cli_report_shows_each_seed_every_reference_and_the_store_in_80_columns(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "80")
    data = tmp_path / "data"
    store = MarketStore(data)
    real = simulate("XYZ", days=40, bar="1h", seed=9).drop(
        columns=["long_liq_usd", "short_liq_usd"]
    )
    store.write("XYZ", real)
    result = runner.invoke(
        app,
        ["data", "simulate", "--report", "--days", "40", "--data-dir", str(data)],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in out  # nothing truncated
    for seed in range(7, 12):
        assert f"s{seed}" in out  # every seed has its own column
    assert "Coinglass dev" in out and "OKX 1h" in out and "XYZ (store)" in out
    # the stored set is judged too: its measurable facts, and liquidation facts as n/a
    assert "XYZ (store): " in out and "measurable facts in their band" in out
    assert "seeds pass all" in out
    assert "price 2y" in out and "long run" in out
    assert "real (issue)" not in out
    assert {d.symbol for d in store.datasets()} == {"XYZ"}


def test_every_real_reference_passes_its_bands():
    from features.sources.simulator.realism import passes, reference_facts

    for ref in reference_facts():
        assert ref.supported(), ref.name
        for key in ref.supported():
            assert passes(key, ref.value(key)), (ref.name, key, ref.value(key))


def test_built_in_references_are_the_shared_files_figures():
    from features.sources.coinglass import import_coinglass
    from features.sources.okx import import_okx_hourly
    from features.sources.simulator.realism import REFERENCES

    measured = {
        "Coinglass dev": stylised_facts(
            import_coinglass(shared_file("coinglass_btc_1h_dev.csv")), reps=0
        ),
        "OKX 1h": stylised_facts(import_okx_hourly(shared_file("okx_btc_usd_swap_1h.csv")), reps=0),
    }
    for name, facts in measured.items():
        stored = REFERENCES[name]
        assert set(stored) == set(facts.supported()), name
        for key, figure in stored.items():
            value = figure[0] if isinstance(figure, tuple) else figure
            assert facts.value(key) == pytest.approx(value, rel=0.02, abs=0.002), (name, key)
