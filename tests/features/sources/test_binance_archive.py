"""binance-archive: hand-made USDⓈ-M archive files in the real layout, joined into one frame."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from features.schema import SIGNAL_GROUPS, signal_groups
from features.sources.binance_archive import import_binance_archive
from tests.features.data_errors import fails_naming
from tests.features.sources.archive_files import (
    FUNDING_HEADER,
    KLINE_HEADER,
    depth_notional,
    kline_rows,
    make_market,
    oi_usd,
    write_archive,
    write_file,
)

FIVE = pd.Timedelta("5min")


@pytest.fixture(scope="module")
def market():
    return make_market(days=2)


@pytest.fixture(scope="module")
def archive(tmp_path_factory, market):
    root = tmp_path_factory.mktemp("archive")
    write_archive(root, market)
    return root


@pytest.fixture(scope="module")
def imported(archive):
    return import_binance_archive(archive)


def copy(archive, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(archive, target)
    return target


def test_all_kinds_join_into_one_frame_on_the_kline_bar(imported, market):
    f = imported
    assert f.index.equals(market.opens.as_unit("ns").rename("time"))
    assert signal_groups(f) == [g for g in SIGNAL_GROUPS if g != "liquidations"]  # none published
    assert f["close"].to_numpy() == pytest.approx(market.close, rel=1e-9)
    assert f["mark_price"].to_numpy() == pytest.approx(market.mark, rel=1e-9)
    assert f["index_price"].to_numpy() == pytest.approx(market.index, rel=1e-9)
    assert f["volume_usd"].to_numpy() == pytest.approx(market.quote_volume, rel=1e-9)
    assert f["taker_buy_ratio"].to_numpy() == pytest.approx(
        market.taker_buy_quote / market.quote_volume, rel=1e-6
    )
    assert (f["funding_rate"] == 0.0001).all()
    assert (f["long_short_ratio"] == 1.25).all()  # count_long_short_ratio: all accounts


def test_snapshots_are_taken_as_of_each_bar_close(imported):
    t = pd.Timestamp("2024-01-01 10:20", tz="UTC")
    # metrics are stamped at 5-minute marks: the bar [10:20, 10:25) gets the 10:25 snapshot.
    assert imported.loc[t, "open_interest_usd"] == pytest.approx(oi_usd(t + FIVE))
    # depth snapshots are at :30 s each minute: the last one before 10:25 is 10:24:30.
    snap = t + pd.Timedelta("4min30s")
    assert imported.loc[t, "bid_depth_1pct_usd"] == pytest.approx(depth_notional(-1, snap))
    assert imported.loc[t, "ask_depth_1pct_usd"] == pytest.approx(depth_notional(1, snap))
    assert imported.loc[t, "bid_depth_2pct_usd"] == pytest.approx(depth_notional(-2, snap))
    assert imported.loc[t, "ask_depth_2pct_usd"] == pytest.approx(depth_notional(2, snap))


def test_headerless_csv_and_microsecond_files_import_the_same(tmp_path, market, imported):
    root = tmp_path / "variant"
    write_archive(root, market, header=False, as_zip=False, time_unit="us")
    pd.testing.assert_frame_equal(import_binance_archive(root), imported, rtol=1e-9)


def test_finer_bars_never_see_a_snapshot_before_it_exists(tmp_path):
    m = make_market(days=1, step="1min")
    write_archive(tmp_path, m, interval="1m", kinds=("klines", "metrics", "fundingRate"))
    f = import_binance_archive(tmp_path)
    first = m.start
    # The first metrics snapshot is at 00:05: bars closing before it have no open interest.
    assert f.loc[first : first + pd.Timedelta("3min"), "open_interest_usd"].isna().all()
    assert f.loc[first + pd.Timedelta("4min"), "open_interest_usd"] == oi_usd(first + FIVE)
    assert f.loc[first + pd.Timedelta("7min"), "open_interest_usd"] == oi_usd(first + FIVE)


def test_funding_is_carried_forward_normalised_and_never_back_filled(tmp_path, market):
    write_archive(tmp_path, market, kinds=("klines",))
    day = market.start
    at_8h, at_12h = ((day + pd.Timedelta(h)).value // 1_000_000 for h in ("8h", "12h"))
    rows = [
        f"{at_8h + 1},4,0.00010000",  # calc_time carries a millisecond of jitter
        f"{at_12h + 2},4,-0.00005000",
    ]
    write_file(tmp_path / "BTCUSDT-fundingRate-2024-01.csv", FUNDING_HEADER, rows)
    frame = import_binance_archive(tmp_path)
    f = frame["funding_rate"]
    # No back-fill: bars closing before the first settlement (08:00:00.001) are left out, and so
    # are bars 1.5 intervals after the last one; both are reported.
    assert f.index[0] == day + pd.Timedelta("8h")
    assert f.index[-1] == day + pd.Timedelta("17h55min")
    assert len(frame.attrs["notes"]) == 1 and "left out" in frame.attrs["notes"][0]
    assert f[day + pd.Timedelta("8h")] == pytest.approx(0.0002)  # 4-hourly 0.01 % = 0.02 % per 8 h
    assert f[day + pd.Timedelta("11h50min")] == pytest.approx(0.0002)
    assert f[day + pd.Timedelta("11h55min")] == pytest.approx(0.0002)  # closes at 12:00:00.000
    assert f[day + pd.Timedelta("12h")] == pytest.approx(-0.0001)
    assert f[day + pd.Timedelta("17h55min")] == pytest.approx(-0.0001)


def test_older_funding_files_take_the_interval_from_the_spacing_but_not_from_a_hole(
    tmp_path, market
):
    """Files without funding_interval_hours: the interval is the spacing between settlements,
    but a hole in the history (16 h here) is not a 16-hour interval that halves the rate."""
    write_archive(tmp_path, market, kinds=("klines",))
    day = market.start
    hours = ("0h", "8h", "16h", "40h")  # the settlements at 24h and 32h are missing
    rows = [f"{(day + pd.Timedelta(h)).value // 1_000_000},0.00010000" for h in hours]
    write_file(tmp_path / "BTCUSDT-fundingRate-2024-01.csv", "calc_time,last_funding_rate", rows)
    f = import_binance_archive(tmp_path)["funding_rate"]
    assert f[day + pd.Timedelta("40h")] == pytest.approx(0.0001)
    assert np.allclose(f.to_numpy(), 0.0001, rtol=1e-9, atol=0)
    # The hole is left out, not filled: from 1.5 intervals after 16:00 to the next settlement.
    hole = (f.index > day + pd.Timedelta("27h55min")) & (f.index < day + pd.Timedelta("39h55min"))
    assert not hole.any()
    assert day + pd.Timedelta("27h55min") in f.index and day + pd.Timedelta("39h55min") in f.index


def test_premium_index_gives_the_index_price_when_index_klines_are_absent(tmp_path, market):
    write_archive(tmp_path, market, kinds=("klines", "premiumIndexKlines", "fundingRate"))
    f = import_binance_archive(tmp_path)
    assert f["index_price"].to_numpy() == pytest.approx(market.index, rel=1e-5)


def test_overlapping_daily_and_monthly_files_merge(tmp_path, archive, market, imported):
    root = copy(archive, tmp_path)
    monthly = root / "futures/um/monthly/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01.csv"
    write_file(monthly, KLINE_HEADER, kline_rows(market, "klines", slice(0, 288)))
    pd.testing.assert_frame_equal(import_binance_archive(root), imported)


def test_conflicting_overlap_names_both_files(tmp_path, archive, market):
    root = copy(archive, tmp_path)
    rows = kline_rows(market, "klines", slice(0, 10))
    rows[3] = rows[3].replace(rows[3].split(",")[4], "1.0", 1)
    monthly = write_file(
        root / "futures/um/monthly/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01.csv", KLINE_HEADER, rows
    )
    with pytest.raises(DataError, match="conflicting rows") as err:
        import_binance_archive(root)
    assert str(monthly) in str(err.value) and "BTCUSDT-5m-2024-01-01.zip" in str(err.value)


def _only(root, kind):
    return next(root.rglob(f"*/{kind}/**/*.zip"))


def test_corrupt_zip_names_the_file(tmp_path, archive):
    root = copy(archive, tmp_path)
    victim = _only(root, "metrics")
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with pytest.raises(DataError, match="corrupt or truncated zip") as err:
        import_binance_archive(root)
    assert str(victim) in str(err.value)


def test_truncated_member_and_empty_files_name_the_file(tmp_path, market):
    write_archive(tmp_path, market, kinds=("klines", "fundingRate"))
    victim = _only(tmp_path, "klines")
    text = zipfile.ZipFile(victim).read(victim.with_suffix(".csv").name).decode()
    with zipfile.ZipFile(victim, "w") as zf:
        zf.writestr(victim.with_suffix(".csv").name, text[: len(text) // 2])  # cut mid-row
    with pytest.raises(DataError, match=r"has \d+ field\(s\) where the header has 12") as err:
        import_binance_archive(tmp_path)
    assert victim.name in str(err.value)
    victim.write_bytes(b"")
    with pytest.raises(DataError, match="the file is empty"):
        import_binance_archive(tmp_path)


@pytest.mark.parametrize(
    ("kind", "edit", "expected"),
    [
        (
            "metrics",
            lambda t: t.replace("sum_open_interest_value", "sum_open_interest_val"),
            "'sum_open_interest_value' (found 'sum_open_interest_val': misnamed?)",
        ),
        ("fundingRate", lambda t: t.replace(",0.00010000", ",0.01000000"), "look like percent"),
        (
            "klines",
            lambda t: "\n".join(
                t.splitlines()[:1] + t.splitlines()[2:3] + t.splitlines()[1:2] + t.splitlines()[3:]
            ),
            "not increasing",
        ),
        (
            "klines",
            lambda t: "\n".join(t.splitlines()[:2] + t.splitlines()[1:]),
            "duplicate timestamp",
        ),
    ],
)
def test_bad_content_names_file_and_problem(tmp_path, archive, kind, edit, expected):
    root = copy(archive, tmp_path)
    victim = _only(root, kind)
    member = victim.with_suffix(".csv").name
    text = zipfile.ZipFile(victim).read(member).decode()
    with zipfile.ZipFile(victim, "w") as zf:
        zf.writestr(member, edit(text))
    with fails_naming(victim, expected):
        import_binance_archive(root)


def test_directory_problems_are_explained(tmp_path, market):
    with pytest.raises(DataError, match="no Binance archive files found"):
        import_binance_archive(tmp_path)
    write_archive(tmp_path, market, kinds=("klines",))
    with pytest.raises(DataError, match="no fundingRate files"):
        import_binance_archive(tmp_path)
    write_archive(
        tmp_path, make_market(days=2, step="1min"), interval="1m", kinds=("klines", "fundingRate")
    )
    with pytest.raises(DataError, match=r"several intervals \['1m', '5m'\]; choose one with --bar"):
        import_binance_archive(tmp_path)
    assert len(import_binance_archive(tmp_path, bar="5m")) == market.bars
    assert np.isfinite(import_binance_archive(tmp_path, bar="1m")["funding_rate"]).all()
