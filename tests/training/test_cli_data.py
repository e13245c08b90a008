"""``flushrisk data ...`` end to end through the CLI, offline."""

from __future__ import annotations

import hashlib

import ccxt
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.store import MarketStore
from tests.conftest import shared_file
from tests.features.sources.archive_files import make_market, write_archive
from tests.features.sources.fake_exchange import SYMBOL, FakeExchange
from tests.features.sources.test_coinglass import COLUMNS as CG_HEADER
from tests.features.sources.test_coinglass import cg_row
from tests.features.sources.test_fetch_archive import Server
from tests.features.sources.test_okx import HEADER as OKX_HEADER
from tests.features.sources.test_okx import okx_row
from training.cli import app  # importing the package registers every command

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Rich wraps tables at 80 columns when not on a terminal; widen so assertions see lines."""
    monkeypatch.setenv("COLUMNS", "250")


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def okx_file(path, hours=range(6), funding=5e-5):
    rows = [
        okx_row(f"2025-01-01 {h:02d}:00:00", 100.0 + h, 101.0 + h, funding=funding) for h in hours
    ]
    path.write_text("\n".join([OKX_HEADER, *rows]) + "\n")
    return path


def test_both_shared_files_import_and_inspect_shows_their_ranges_and_groups(tmp_path):
    okx = shared_file("okx_btc_usd_swap_1h.csv")
    cg = shared_file("coinglass_btc_30m_sample.csv")
    data = tmp_path / "data"
    result = run(
        "data", "import", okx, "--format", "okx-hourly", "--symbol", "BTC", "--data-dir", data
    )
    assert result.exit_code == 0, result.output
    assert "0 -> 6,406 (+6,406 new)" in result.output
    result = run(
        "data", "import", cg, "--format", "coinglass", "--symbol", "BTC", "--data-dir", data
    )
    assert result.exit_code == 0, result.output

    result = run("data", "inspect", "BTC", "--data-dir", data)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "2025-03-25 12:00 .. 2026-01-21 15:00 UTC" in out
    assert "2026-06-02 06:00 .. 2026-06-08 15:30 UTC" in out
    assert "price, funding, basis, open_interest" in out
    assert "price, funding, open_interest, liquidations" in out
    assert "6,406 of 7,252 bars" in out and "541 gap(s), 846 missing bar(s)" in out
    assert "open_interest_usd" in out and "long_liq_usd" in out

    listed = run("data", "list", "--data-dir", data)
    assert listed.exit_code == 0
    assert "6,406" in listed.output and "308" in listed.output

    # Reading the 30-minute data at 1h resamples it.
    hourly = run("data", "inspect", "BTC", "--bar", "1h", "--data-dir", data)
    assert hourly.exit_code == 0 and "BTC 1h" in hourly.output


def test_reimporting_an_overlapping_range_merges(tmp_path):
    data = tmp_path / "data"
    first = okx_file(tmp_path / "a.csv", hours=range(6))
    second = okx_file(tmp_path / "b.csv", hours=range(3, 10))
    assert (
        run("data", "import", first, "-f", "okx-hourly", "-s", "BTC", "--data-dir", data).exit_code
        == 0
    )
    result = run("data", "import", second, "-f", "okx-hourly", "-s", "BTC", "--data-dir", data)
    assert result.exit_code == 0, result.output
    assert "6 -> 10 (+4 new)" in result.output
    frame = MarketStore(data).read("BTC")
    assert len(frame) == 10 and frame.index.is_unique


def _bad_okx_missing_column(tmp):
    p = okx_file(tmp / "okx.csv")
    p.write_text(p.read_text().replace("oi_contracts_usd100", "oi_contracts"))
    return p, "okx-hourly", ["'oi_contracts_usd100' (found 'oi_contracts': misnamed?)"]


def _bad_okx_percent(tmp):
    return (
        okx_file(tmp / "okx.csv", funding=0.01),
        "okx-hourly",
        ["'funding_rate'", "look like percent"],
    )


def _bad_coinglass_fraction(tmp):
    p = tmp / "cg.csv"
    p.write_text("\n".join([CG_HEADER, *[cg_row(i, funding=0.0001) for i in range(4)]]) + "\n")
    return p, "coinglass", ["'funding_close'", "look like fractions"]


def _bad_okx_order(tmp):
    p = okx_file(tmp / "okx.csv", hours=[0, 2, 1, 3])
    return p, "okx-hourly", ["not increasing", "row 3 (line 4)"]


def _bad_coinglass_duplicate(tmp):
    p = tmp / "cg.csv"
    p.write_text("\n".join([CG_HEADER, cg_row(0), cg_row(1), cg_row(1)]) + "\n")
    return p, "coinglass", ["duplicate timestamp", "row 3 (line 4)"]


def _bad_corrupt_zip(tmp):
    root = tmp / "archive"
    write_archive(root, make_market(days=1), kinds=("klines", "fundingRate"))
    victim = next(root.rglob("BTCUSDT-5m-*.zip"))
    victim.write_bytes(victim.read_bytes()[:200])
    return root, "binance-archive", [victim.name, "corrupt or truncated zip"]


def _bad_truncated_csv(tmp):
    p = okx_file(tmp / "okx.csv")
    p.write_text(p.read_text()[:-30])  # the download stopped mid-row
    return p, "okx-hourly", ["line 7 has", "truncated"]


def _bad_empty(tmp):
    p = tmp / "okx.csv"
    p.write_text("")
    return p, "okx-hourly", ["the file is empty"]


@pytest.mark.parametrize(
    "make_bad",
    [
        _bad_okx_missing_column,
        _bad_okx_percent,
        _bad_coinglass_fraction,
        _bad_okx_order,
        _bad_coinglass_duplicate,
        _bad_corrupt_zip,
        _bad_truncated_csv,
        _bad_empty,
    ],
)
def test_bad_input_exits_2_naming_the_problem_and_leaves_the_store_as_it_was(tmp_path, make_bad):
    data = tmp_path / "data"
    good = okx_file(tmp_path / "good.csv")
    assert (
        run("data", "import", good, "-f", "okx-hourly", "-s", "BTC", "--data-dir", data).exit_code
        == 0
    )
    stored = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    path, fmt, expected = make_bad(bad_dir)

    result = run("data", "import", path, "--format", fmt, "--symbol", "BTC", "--data-dir", data)

    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output
    assert str(path) in result.output or any(
        str(path) in line for line in result.output.splitlines()
    )
    for text in expected:
        assert text in result.output
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == stored


def test_csv_import_with_mapping_file_and_flags(tmp_path):
    src = tmp_path / "prices.csv"
    times = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
    pd.DataFrame(
        {
            "t": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "px": [100.0, 101, 102, 103],
            "fr": [0.01] * 4,
            "oi": [10.0] * 4,
        }
    ).to_csv(src, index=False)
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "time: t\ncolumns:\n  close: px\n  funding_rate: fr\nohlc_from_close: true\n"
    )
    data = tmp_path / "data"

    def import_as(fmt, *flags):
        return run("data", "import", src, "-f", fmt, "-s", "X", "--data-dir", data, *flags)

    result = import_as(
        "csv",
        "--mapping",
        mapping,
        "--funding-unit",
        "percent",
        "--map",
        "open_interest_usd=oi",
        "--scale",
        "open_interest_usd=100",
    )
    assert result.exit_code == 0, result.output
    frame = MarketStore(data).read("X")
    assert frame["funding_rate"].tolist() == pytest.approx([1e-4] * 4)
    assert frame["open_interest_usd"].tolist() == [1000.0] * 4
    wrong = import_as("okx-hourly", "--mapping", mapping)
    assert wrong.exit_code == 2 and "apply only to --format csv" in wrong.output


def test_fetch_through_a_patched_ccxt_stops_cleanly_and_resumes(tmp_path, monkeypatch):
    data = tmp_path / "data"
    failing = FakeExchange()
    failing.fail_calls = set(range(20, 200))  # the network goes away in the second chunk
    monkeypatch.setattr(ccxt, "binanceusdm", lambda config: failing)
    args = (
        "data",
        "fetch",
        "--exchange",
        "binanceusdm",
        "--symbol",
        SYMBOL,
        "--since",
        "2024-01-02",
        "--until",
        "2024-01-05 23:55",
        "--bar",
        "5m",
        "--name",
        "BTC",
        "--data-dir",
        data,
    )
    monkeypatch.setattr("features.sources.fetch_ccxt.time.sleep", lambda s: None)
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "network error from binanceusdm" in result.output
    assert "1000 row(s) of this run are stored in BTC 5m" in result.output
    assert len(MarketStore(data).read("BTC")) == 1000

    monkeypatch.setattr(ccxt, "binanceusdm", lambda config: FakeExchange())
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "resumed from" in result.output and "2024-01-05 11:20" in result.output
    assert len(MarketStore(data).read("BTC")) == 4 * 288


def test_fetch_archive_then_import_then_inspect(tmp_path):
    served = tmp_path / "server"
    write_archive(served / "data", make_market(days=1))
    for path in served.rglob("*.zip"):
        path.with_name(path.name + ".CHECKSUM").write_text(
            f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
        )
    server = Server(served)
    dest = tmp_path / "mirror"
    try:
        result = run(
            "data",
            "fetch-archive",
            "--symbol",
            "BTCUSDT",
            "--since",
            "2024-01-01",
            "--until",
            "2024-01-01",
            "--dest",
            dest,
            "--base-url",
            server.url,
        )
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    assert "6 downloaded and verified" in result.output and "1 not in the archive" in result.output
    data = tmp_path / "data"
    result = run(
        "data", "import", dest, "-f", "binance-archive", "-s", "BTCUSDT", "--data-dir", data
    )
    assert result.exit_code == 0, result.output
    inspect = run("data", "inspect", "BTCUSDT", "--data-dir", data)
    assert "price, funding, basis, volume, open_interest, depth, positioning" in inspect.output
    assert "2024-01-01 00:00 .. 2024-01-01 23:55 UTC" in inspect.output


def test_inspect_and_list_explain_an_empty_store(tmp_path):
    result = run("data", "inspect", "ETH", "--data-dir", tmp_path)
    assert result.exit_code == 2 and "no data for 'ETH'" in result.output
    assert "no datasets" in run("data", "list", "--data-dir", tmp_path).output


def test_an_archive_link_out_of_the_folder_is_refused_without_printing_its_content(tmp_path):
    """Issue 22: a binance-archive file that was a symlink to /etc/passwd was read, and the
    error printed its first line."""
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:SECRET-LINE:/root:/bin/bash\n" * 3)
    root = tmp_path / "archive"
    write_archive(root, make_market(days=1), kinds=("klines", "fundingRate"))
    folder = next(root.rglob("BTCUSDT-5m-*.zip")).parent
    (folder / "BTCUSDT-5m-2024-01-09.csv").symlink_to(secret)
    data = tmp_path / "data"

    result = run("data", "import", root, "-f", "binance-archive", "-s", "BTC", "--data-dir", data)

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "SECRET-LINE" not in result.output
    assert "resolve outside" in result.output and "BTCUSDT-5m-2024-01-09.csv" in result.output
    assert not any(p.is_file() for p in data.rglob("*"))  # nothing imported
    # a link that stays inside the folder is an ordinary file
    (folder / "BTCUSDT-5m-2024-01-09.csv").unlink()
    inside = next(folder.glob("*.zip"))
    (folder / "copy").mkdir()
    (folder / "copy" / inside.name).symlink_to(inside)
    ok = run("data", "import", root, "-f", "binance-archive", "-s", "BTC", "--data-dir", data)
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("factor", ["inf", "1e400", "nan", "-inf", "0", "abc"])
def test_a_scale_factor_that_is_not_a_finite_number_is_one_line_naming_scale_and_file(
    tmp_path, factor
):
    src = tmp_path / "prices.csv"
    times = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
    pd.DataFrame(
        {"time": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "close": 100.0, "funding_rate": 1e-4,
         "open_interest_usd": 10.0}
    ).to_csv(src, index=False)
    result = run(
        "data", "import", src, "-f", "csv", "-s", "X", "--data-dir", tmp_path / "data",
        "--ohlc-from-close", "--scale", f"open_interest_usd={factor}",
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "--scale" in result.output and str(src) in "".join(lines), result.output
    assert "Traceback" not in result.output and "validation error" not in result.output
    assert len(lines) <= 3, result.output
