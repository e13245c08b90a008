"""coinglass: the real 30-minute export and hand-made variants of its layout."""

from __future__ import annotations

import pandas as pd
import pytest

from features.schema import signal_groups
from features.sources.coinglass import import_coinglass
from tests.conftest import shared_file
from tests.features.data_errors import fails_naming

COLUMNS = (
    "timestamp,datetime_utc,price_open,price_high,price_low,price_close,liquidation_long_usd,"
    "liquidation_short_usd,liquidation_total_usd,funding_open,funding_high,funding_low,"
    "funding_close,oi_open,oi_high,oi_low,oi_close,cvd_open,cvd_high,cvd_low,cvd_close"
)


def cg_row(i: int, funding: float = 0.01, start_ms: int = 1780380000000) -> str:
    ms = start_ms + i * 1_800_000
    iso = pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return (
        f"{ms},{iso},70000,70100,69900,{70000 + i},{1000 * (i + 1)},{10 * i},{1010 * i},"
        f"{funding},{funding},{funding},{funding},7e9,7e9,7e9,{7e9 + i},0,0,0,0"
    )


def write(tmp_path, rows, header=COLUMNS):
    path = tmp_path / "coinglass.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_real_file_imports_with_its_true_range_and_units():
    path = shared_file("coinglass_btc_30m_sample.csv")
    frame = import_coinglass(path)
    raw = pd.read_csv(path)
    assert len(frame) == 308
    assert frame.index[0] == pd.Timestamp("2026-06-02 06:00", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2026-06-08 15:30", tz="UTC")
    assert signal_groups(frame) == ["price", "funding", "open_interest", "liquidations"]
    # Funding in the file is percent: 0.01 (%) is 0.0001 as a fraction.
    assert frame["funding_rate"].to_numpy() == pytest.approx(raw["funding_close"].to_numpy() / 100)
    assert frame["open_interest_usd"].to_numpy() == pytest.approx(raw["oi_close"].to_numpy())
    assert frame["long_liq_usd"].to_numpy() == pytest.approx(raw["liquidation_long_usd"].to_numpy())
    assert frame["close"].iloc[0] == 70370.19


def test_hand_made_rows_map_one_to_one(tmp_path):
    frame = import_coinglass(write(tmp_path, [cg_row(i) for i in range(4)]))
    assert frame.index[1] - frame.index[0] == pd.Timedelta("30min")
    assert frame["short_liq_usd"].tolist() == [0.0, 10.0, 20.0, 30.0]
    assert frame["funding_rate"].tolist() == pytest.approx([0.0001] * 4)
    assert "cvd_close" not in frame.columns


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        # Funding already a fraction in a layout whose funding is percent.
        ([cg_row(i, funding=0.0001) for i in range(3)], COLUMNS, "look like fractions"),
        ([cg_row(0), cg_row(0)], COLUMNS, "duplicate timestamp"),
        ([cg_row(1), cg_row(0)], COLUMNS, "not increasing"),
        (
            [cg_row(0)],
            COLUMNS.replace("price_close", "close_price"),
            "missing column(s) 'price_close'",
        ),
        ([cg_row(0), cg_row(1)[:40]], COLUMNS, "line 3 has"),
        (
            [cg_row(0), cg_row(1).replace(",70100,", ",,", 1)],
            COLUMNS,
            "row 2 (line 3) column 'price_high' is empty",
        ),
        (
            [cg_row(0).replace("1780380000000", "1780381800000", 1)],
            COLUMNS,
            "disagrees with datetime_utc",
        ),
    ],
)
def test_bad_files_fail_naming_file_and_problem(tmp_path, rows, header, expected):
    path = write(tmp_path, rows, header)
    with fails_naming(path, expected):
        import_coinglass(path)
