"""Bad files found by the newcomer/attacker run (issue 14 items 4, 5, 6, 11): each is refused
with a message that names the file, the column and the row, and nothing reaches the store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.sources import import_path
from features.sources.coinglass import import_coinglass
from features.sources.csv_mapped import CsvMapping, import_csv
from features.sources.okx import import_okx_hourly
from features.store import MarketStore
from tests.conftest import shared_file
from tests.features.data_errors import fails_naming

HEADER = "time,open,high,low,close,funding_rate,open_interest_usd"


def csv_file(tmp_path, rows: int = 40, name: str = "bars.csv", bar: str = "30min", edit=None):
    """A valid canonical CSV of ``rows`` bars; ``edit(lines)`` changes its data lines."""
    times = pd.date_range("2024-01-01", periods=rows, freq=bar, tz="UTC")
    rng = np.random.default_rng(1)
    lines = []
    for i, t in enumerate(times):
        close = 100 + i * 0.1
        lines.append(
            f"{t.isoformat()},{close - 0.05},{close + 0.5},{close - 0.5},{close},"
            f"{rng.uniform(5e-5, 2e-4):.6g},{1e9 + i}"
        )
    if edit is not None:
        edit(lines)
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def set_cell(lines, row: int, column: str, value: str) -> None:
    cells = lines[row].split(",")
    cells[HEADER.split(",").index(column)] = value
    lines[row] = ",".join(cells)


# -- item 4: non-finite values ---------------------------------------------------------------
@pytest.mark.parametrize("text", ["inf", "1e400", "Infinity", "-inf"])
def test_an_infinite_cell_in_a_csv_names_the_line_and_column(tmp_path, text):
    column = "close" if text != "Infinity" else "open_interest_usd"
    path = csv_file(tmp_path, edit=lambda lines: set_cell(lines, 9, column, text))
    with fails_naming(str(path), "row 10 (line 11)", repr(column), "not a finite number"):
        import_csv(path)


def test_infinity_inside_parquet_is_refused_naming_column_and_row(tmp_path):
    frame = import_csv(csv_file(tmp_path))
    frame.iloc[4, frame.columns.get_loc("high")] = np.inf
    path = tmp_path / "bars.parquet"
    frame.reset_index().to_parquet(path)
    with fails_naming(str(path), "'high'", "row 5", "finite"):
        import_csv(path)


def test_a_scale_factor_of_infinity_is_refused_and_one_that_overflows_names_the_row(tmp_path):
    from typer.testing import CliRunner

    from training.cli import app

    path = csv_file(tmp_path)
    data = tmp_path / "data"
    result = CliRunner().invoke(
        app,
        ["data", "import", str(path), "-f", "csv", "-s", "BTC", "--data-dir", str(data),
         "--scale", "close=1e400"],
    )
    assert result.exit_code == 2 and "finite" in result.output and "close" in result.output
    assert not data.exists() or not any(data.rglob("*.parquet"))
    # 1e9 USD of open interest times 1e306 overflows to infinity in every row.
    with fails_naming(str(path), "'open_interest_usd'", "finite", "row 1 "):
        import_csv(path, CsvMapping(scale={"open_interest_usd": 1e306}))


def test_a_one_row_file_with_infinite_high_cannot_overwrite_the_store(tmp_path):
    store = MarketStore(tmp_path / "data")
    frame = import_csv(csv_file(tmp_path))
    store.write("BTC", frame)
    bad = frame.iloc[:1].copy()
    bad["high"] = np.inf
    with fails_naming("'high'", "finite"):
        store.write("BTC", bad, bar="30m")
    assert store.read("BTC")["high"].iloc[0] == frame["high"].iloc[0]


# -- item 6: inconsistent OHLC -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("column", "factor", "rule"),
    [("close", "2*high", "high must be >= close"), ("open", "low/2", "low must be <= open")],
)
def test_inconsistent_ohlc_is_refused_naming_the_row(tmp_path, column, factor, rule):
    def edit(lines):
        cells = lines[6].split(",")
        high, low = float(cells[2]), float(cells[3])
        set_cell(lines, 6, column, str(2 * high if factor == "2*high" else low / 2))

    path = csv_file(tmp_path, edit=edit)
    with fails_naming(str(path), rule, "row 7"):
        import_csv(path)


# -- item 5: units per stretch of rows ---------------------------------------------------------
def test_okx_file_whose_last_third_of_funding_is_percent_names_the_first_changed_row(tmp_path):
    real = shared_file("okx_btc_usd_swap_1h.csv")
    raw = pd.read_csv(real, dtype=str)
    start = 2 * len(raw) // 3
    raw.loc[start:, "funding_rate"] = (raw.loc[start:, "funding_rate"].astype(float) * 100).map(
        repr
    )
    path = tmp_path / "okx_mixed.csv"
    raw.to_csv(path, index=False)
    # The first changed row is the first one at or after `start` whose rate is not zero and
    # differs from the one before (repeated snapshots of one rate are one settlement).
    with fails_naming(str(path), "'funding_rate'", "changes units at row", "percent"):
        import_okx_hourly(path)
    with pytest.raises(Exception) as err:
        import_okx_hourly(path)
    row = int(str(err.value).split("changes units at row ")[1].split(" ")[0])
    assert start < row <= start + 30, f"named row {row}, the change is at row {start + 1}"


def test_coinglass_file_whose_rows_after_200_are_fractions_names_row_201(tmp_path):
    real = shared_file("coinglass_btc_30m_sample.csv")
    raw = pd.read_csv(real, dtype=str)
    raw.loc[200:, "funding_close"] = (raw.loc[200:, "funding_close"].astype(float) / 100).map(repr)
    path = tmp_path / "coinglass_mixed.csv"
    raw.to_csv(path, index=False)
    with fails_naming(str(path), "'funding_close'", "changes units at row 201 (line 202"):
        import_coinglass(path)


def test_real_files_have_no_change_of_units():
    assert len(import_okx_hourly(shared_file("okx_btc_usd_swap_1h.csv"))) > 0
    assert len(import_coinglass(shared_file("coinglass_btc_30m_sample.csv"))) > 0


# -- item 11: messages ---------------------------------------------------------------------------
def test_a_timestamp_one_minute_off_the_grid_names_the_file_row_and_grid(tmp_path):
    def edit(lines):
        lines[12] = lines[12].replace("T06:00:00", "T05:59:00")

    path = csv_file(tmp_path, edit=edit)
    with fails_naming(str(path), "row 13", "not on the 30m bar grid"):
        import_csv(path)


def test_far_future_millisecond_timestamps_give_a_range_error_not_the_year_1741(tmp_path):
    path = tmp_path / "coinglass.csv"
    real = pd.read_csv(shared_file("coinglass_btc_30m_sample.csv"), dtype=str).head(50)
    real.loc[20, "timestamp"] = "99999999999999999"
    real = real.drop(columns=["datetime_utc"])
    real.to_csv(path, index=False)
    with pytest.raises(Exception) as err:
        import_coinglass(path)
    message = str(err.value)
    assert "row 21" in message and "'timestamp'" in message and "2000-2100" in message
    assert "1741" not in message


def test_a_latin1_byte_inside_a_number_names_the_line(tmp_path):
    path = csv_file(tmp_path)
    data = path.read_bytes().replace(b"100.5,", b"100\xe9.5,", 1)
    path.write_bytes(data)
    line = data[: data.index(b"\xe9")].count(b"\n") + 1
    with fails_naming(str(path), f"line {line}", "not UTF-8"):
        import_path(path, "csv")
