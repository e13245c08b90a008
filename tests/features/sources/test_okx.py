"""okx-hourly: the real OKX snapshot file and hand-made variants of its layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from features.schema import signal_groups
from features.sources.okx import import_okx_hourly
from tests.conftest import shared_file
from tests.features.data_errors import fails_naming

HEADER = (
    "hour_utc,snapshot_commit_utc,spot_price,futures_price,basis_pct,funding_rate,"
    "oi_contracts_usd100,cvd_last100_trades"
)


def okx_row(hour: str, spot: float, fut: float, funding: float = 5e-5, oi: float = 7e6) -> str:
    basis = (fut - spot) / spot * 100
    return f"{hour}+00:00,{hour}+00:00,{spot},{fut},{basis},{funding},{oi},0.1"


def write(tmp_path, rows, header=HEADER, name="okx.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def real():
    return import_okx_hourly(shared_file("okx_btc_usd_swap_1h.csv"))


def test_real_file_imports_with_its_true_range_and_groups(real):
    assert len(real) == 6406
    assert real.index[0] == pd.Timestamp("2025-03-25 12:00", tz="UTC")
    assert real.index[-1] == pd.Timestamp("2026-01-21 15:00", tz="UTC")
    assert signal_groups(real) == ["price", "funding", "basis", "open_interest"]


def test_real_file_shows_the_2025_10_10_crash(real):
    drop = real.loc["2025-10-10 21:00", "close"] / real.loc["2025-10-10 20:00", "close"] - 1
    assert -0.08 < drop < -0.06
    # The crash bar opens at the previous snapshot's price, so its low shows the drop.
    assert real.loc["2025-10-10 21:00", "open"] == real.loc["2025-10-10 20:00", "close"]
    assert real.loc["2025-10-10 21:00", "low"] == real.loc["2025-10-10 21:00", "close"]


def test_real_file_keeps_missing_hours_missing(real):
    hours = pd.Series(real.index).diff().dropna()
    assert (hours >= pd.Timedelta("1h")).all()
    assert (hours > pd.Timedelta("1h")).sum() > 500, "the file has hundreds of gaps"
    assert pd.Timestamp("2025-03-25 13:00", tz="UTC") not in real.index


def test_units_and_ohlc_construction(tmp_path):
    path = write(
        tmp_path,
        [
            okx_row("2025-01-01 00:00:00", 100.0, 101.0, oi=1000),
            okx_row("2025-01-01 01:00:00", 100.0, 99.0, oi=2000),
            okx_row("2025-01-01 03:00:00", 100.0, 104.0, oi=3000),  # after a gap
        ],
    )
    f = import_okx_hourly(path)
    assert f.index.tolist() == list(
        pd.to_datetime(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 03:00"], utc=True)
    )
    assert f["open_interest_usd"].tolist() == [100_000.0, 200_000.0, 300_000.0]  # 100 USD contracts
    assert f["close"].tolist() == [101.0, 99.0, 104.0]  # the perpetual's price
    assert f["index_price"].tolist() == [100.0] * 3  # spot
    assert f["open"].tolist() == [101.0, 101.0, 104.0]  # previous close only when contiguous
    assert f["high"].tolist() == [101.0, 101.0, 104.0]
    assert f["low"].tolist() == [101.0, 99.0, 104.0]
    assert np.allclose(f["funding_rate"], 5e-5)


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        (
            [
                okx_row("2025-01-01 00:00:00", 100, 101, funding=0.005),
                okx_row("2025-01-01 01:00:00", 100, 101, funding=0.01),
            ],
            HEADER,
            "look like percent",
        ),
        ([okx_row("2025-01-01 00:00:00", 100, 101)] * 2, HEADER, "duplicate timestamp"),
        (
            [okx_row("2025-01-01 02:00:00", 100, 101), okx_row("2025-01-01 01:00:00", 100, 101)],
            HEADER,
            "not increasing: row 2 (line 3)",
        ),
        (
            [okx_row("2025-01-01 00:00:00", 100, 101)],
            HEADER.replace("futures_price", "future_price"),
            "'futures_price' (found 'future_price': misnamed?)",
        ),
        (
            [okx_row("2025-01-01 00:00:00", 100, 101), "2025-01-01 01:00:00+00:00,2025-01-01"],
            HEADER,
            "line 3 has 2 field(s)",
        ),
        (
            [okx_row("2025-01-01 00:00:00", 100, 101).replace(",0.1", ",0.1,extra")],
            HEADER,
            "line 2 has 9 field(s)",
        ),
        (
            [
                okx_row("2025-01-01 00:00:00", 100, 101),
                okx_row("2025-01-01 01:00:00", 100, 101).replace("100,101", "abc,101", 1),
            ],
            HEADER,
            "'abc' is not a number",
        ),
        (
            [okx_row("2025-01-01 00:00:00", 101, 100), okx_row("2025-01-01 01:00:00", 102, 100)],
            HEADER.replace("spot_price,futures_price", "futures_price,spot_price"),
            "swapped",
        ),
    ],
)
def test_bad_files_fail_naming_file_and_problem(tmp_path, rows, header, expected):
    path = write(tmp_path, rows, header)
    with fails_naming(path, expected):
        import_okx_hourly(path)


def test_empty_and_header_only_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.csv: the file is empty"):
        import_okx_hourly(empty)
    with pytest.raises(DataError, match="no data rows"):
        import_okx_hourly(write(tmp_path, []))
