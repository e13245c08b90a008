"""Reading source files so that every failure names the file, the line, the column and the problem.

Importers read with these helpers rather than calling pandas directly: pandas reports an empty
file, a truncated row or a text cell in a number column in ways a user cannot act on (or not at
all: a short last row silently becomes NaN). Each helper turns those into a
:class:`~features.errors.DataError` that says where to look.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from features.bars import bar_name, infer_bar
from features.errors import DataError
from features.schema import validate_frame


def describe_row(position: int, header: bool = True) -> str:
    """'row 3 (line 4)' for the 0-based data row ``position`` of a CSV file."""
    return f"row {position + 1} (line {position + (2 if header else 1)})"


def read_csv_source(
    data: Path | bytes,
    source: str,
    *,
    header: bool = True,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read one CSV (a path or the bytes of a zip member) with errors that name ``source``.

    Every column is read as text first, so that the caller can report a malformed cell with its
    line instead of pandas guessing a type.
    """
    if isinstance(data, Path):
        if not data.exists():
            raise DataError(f"{source}: no such file")
        try:
            data = data.read_bytes()
        except OSError as err:
            raise DataError(f"{source}: cannot read the file ({err.strerror})") from None
    if not data.strip():
        raise DataError(f"{source}: the file is empty")
    _check_utf8(data, source)
    _check_field_counts(data, source, header=header, expected=None if header else len(names or []))
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            header=0 if header else None,
            names=list(names) if names is not None and not header else None,
            dtype=str,
            keep_default_na=True,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{source}: the file is empty") from None
    except pd.errors.ParserError as err:
        raise DataError(
            f"{source}: malformed CSV, a row has the wrong number of fields ({err}); "
            "the file may be truncated or not comma-separated"
        ) from None
    except UnicodeDecodeError as err:
        raise DataError(f"{source}: not a text CSV file ({err.reason})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise DataError(f"{source}: no data rows (only a header)")
    return frame


def _check_utf8(data: bytes, source: str) -> None:
    """Fail naming the line of the first byte that is not UTF-8 (a latin-1 'é' in a number)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        begin = data.rfind(b"\n", 0, err.start) + 1
        end = data.find(b"\n", err.start)
        text = data[begin : end if end >= 0 else len(data)][:80].decode("utf-8", "replace")
        raise DataError(
            f"{source}: line {line}: byte 0x{data[err.start]:02x} is not UTF-8 text "
            f"({text!r}); save the file as UTF-8"
        ) from None


def _check_field_counts(data: bytes, source: str, header: bool, expected: int | None) -> None:
    """Fail on a row with fewer or more fields than the header: a truncated or spliced file.

    pandas pads a short last row with NaN without a word, so a download cut mid-line would
    import as a row of missing values. Quoted files are left to the parser (commas in quotes).
    """
    if b'"' in data:
        return
    lines = data.splitlines()
    counts = np.fromiter((line.count(b",") for line in lines), dtype=np.int64, count=len(lines))
    blank = np.fromiter((not line.strip() for line in lines), dtype=bool, count=len(lines))
    first = int(np.argmin(blank))
    want = counts[first] if expected is None or expected == 0 else expected - 1
    wrong = np.flatnonzero((counts != want) & ~blank)
    if wrong.size:
        line = int(wrong[0])
        raise DataError(
            f"{source}: line {line + 1} has {counts[line] + 1} field(s) where "
            f"{'the header has' if header else 'the layout has'} {want + 1}: a truncated or "
            f"malformed row ({wrong.size} such line(s)): {lines[line][:80]!r}"
        )


def read_table(path: Path, source: str | None = None) -> pd.DataFrame:
    """A CSV or Parquet file as a frame of raw columns (Parquet keeps its own types)."""
    source = source or str(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        if not path.exists():
            raise DataError(f"{source}: no such file")
        if path.stat().st_size == 0:
            raise DataError(f"{source}: the file is empty")
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as err:
            raise DataError(f"{source}: unreadable Parquet file ({err})") from None
        if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name:
            frame = frame.reset_index()
        if frame.empty:
            raise DataError(f"{source}: no data rows")
        return frame
    return read_csv_source(path, source)


def require_source_columns(frame: pd.DataFrame, columns: Iterable[str], source: str) -> None:
    """Fail naming each absent column, with the closest column the file does have."""
    have = [str(c) for c in frame.columns]
    problems = []
    for column in columns:
        if column in have:
            continue
        close = difflib.get_close_matches(column, have, n=1, cutoff=0.6)
        problems.append(f"{column!r}" + (f" (found {close[0]!r}: misnamed?)" if close else ""))
    if problems:
        raise DataError(f"{source}: missing column(s) {', '.join(problems)}; the file has {have}")


def numeric_columns(
    frame: pd.DataFrame,
    columns: Iterable[str],
    source: str,
    *,
    required: Iterable[str] = (),
    header: bool = True,
) -> pd.DataFrame:
    """The given text columns as float64, failing on a cell that is not a number.

    A cell that is empty in a ``required`` column fails too: in a file written by a program it
    means a truncated or incomplete row, not a missing value.
    """
    out = {}
    required = set(required)
    for column in columns:
        raw = frame[column]
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
        bad = values.isna() & raw.notna()
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{source}: {describe_row(pos, header)} column {column!r}: "
                f"{raw.iloc[pos]!r} is not a number ({int(bad.sum())} such row(s))"
            )
        infinite = np.isinf(values.to_numpy())
        if infinite.any():
            pos = int(np.flatnonzero(infinite)[0])
            raise DataError(
                f"{source}: {describe_row(pos, header)} column {column!r}: "
                f"{raw.iloc[pos]!r} is not a finite number ({int(infinite.sum())} such row(s))"
            )
        if column in required and values.isna().any():
            pos = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataError(
                f"{source}: {describe_row(pos, header)} column {column!r} is empty "
                f"({int(values.isna().sum())} such row(s)); truncated or incomplete row?"
            )
        out[column] = values.to_numpy()
    return pd.DataFrame(out, index=frame.index)


def parse_text_times(
    raw: pd.Series, source: str, column: str, header: bool = True
) -> pd.DatetimeIndex:
    """ISO-like text timestamps as UTC; naive times are taken as UTC."""
    times = pd.to_datetime(raw, errors="coerce", utc=True, format="ISO8601")
    bad = times.isna()
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{source}: {describe_row(pos, header)} column {column!r}: "
            f"{raw.iloc[pos]!r} is not a timestamp"
        )
    return pd.DatetimeIndex(times).as_unit("ns")


def check_time_order(times: pd.DatetimeIndex, source: str, header: bool = True) -> None:
    """Fail on a missing, duplicate or decreasing timestamp, naming both rows involved."""
    if times.isna().any():
        pos = int(np.flatnonzero(times.isna())[0])
        raise DataError(f"{source}: {describe_row(pos, header)} has no timestamp")
    values = times.asi8
    if len(values) < 2:
        return
    step = np.diff(values)
    if (step == 0).any():
        pos = int(np.flatnonzero(step == 0)[0]) + 1
        raise DataError(
            f"{source}: duplicate timestamp {times[pos]}: {describe_row(pos, header)} repeats "
            f"{describe_row(pos - 1, header)} ({int((step == 0).sum())} duplicate(s))"
        )
    if (step < 0).any():
        pos = int(np.flatnonzero(step < 0)[0]) + 1
        raise DataError(
            f"{source}: timestamps are not increasing: {describe_row(pos, header)} ({times[pos]}) "
            f"comes after {describe_row(pos - 1, header)} ({times[pos - 1]})"
        )


def check_on_grid(index: pd.DatetimeIndex, bar: pd.Timedelta, source: str) -> None:
    """Fail when a timestamp is not a bar open time (a 5m bar must start at :00, :05, ...)."""
    off = index.asi8 % bar.value != 0
    if off.any():
        pos = int(np.flatnonzero(off)[0])
        raise DataError(
            f"{source}: timestamp {index[pos]} (row {pos + 1}) is not on the {bar_name(bar)} grid; "
            "bar times must be bar open times"
        )


def drop_unknown_funding(
    frame: pd.DataFrame, source: str, coverage: str
) -> tuple[pd.DataFrame, list[str]]:
    """Leave out the bars whose funding rate in force is unknown, saying so.

    ``funding_rate`` is required in every row, and filling it backwards from a later settlement
    would be look-ahead; so a bar before the first known settlement, or too long after the last
    one (a missing funding file), is left out and becomes a gap. ``coverage`` says what funding
    data there was, for the message.
    """
    unknown = frame["funding_rate"].isna()
    if not unknown.any():
        return frame, []
    if unknown.all():
        raise DataError(
            f"{source}: no bar has a known funding rate (funding covers {coverage}; bars cover "
            f"{frame.index[0]} .. {frame.index[-1]}); get the funding data for these dates"
        )
    dropped = frame.index[unknown.to_numpy()]
    note = (
        f"{len(dropped)} bar(s) between {dropped[0]} and {dropped[-1]} left out: no funding rate "
        f"in force is known for them (funding covers {coverage})"
    )
    return frame[~unknown], [note]


def funding_in_force(
    funding: pd.DataFrame, closes: pd.DatetimeIndex, max_age_intervals: float = 1.5
) -> np.ndarray:
    """Each bar's funding rate in force: the last settlement at or before the bar's close.

    ``funding`` is indexed by settlement time (sorted, ns) with columns ``funding_rate`` and
    ``interval_hours``. A settlement older than ``max_age_intervals`` of its interval is a hole
    in the funding history, not the rate in force, so the bar gets NaN (never a later rate:
    that would be look-ahead).
    """
    settle = funding.index.as_unit("ns").asi8
    ends = closes.as_unit("ns").asi8
    pos = np.searchsorted(settle, ends, side="right") - 1
    safe = np.clip(pos, 0, None)
    age_h = (ends - settle[safe]) / 3.6e12
    fresh = (pos >= 0) & (age_h <= funding["interval_hours"].to_numpy()[safe] * max_age_intervals)
    return np.where(fresh, funding["funding_rate"].to_numpy()[safe], np.nan)


def as_of_closes(
    snapshots: pd.DataFrame, opens: pd.DatetimeIndex, step: pd.Timedelta, max_age: pd.Timedelta
) -> pd.DataFrame:
    """Per bar, the last snapshot at or before the bar's close, if at most ``max_age`` old.

    Snapshot sources (open interest, long/short ratios, book depth) are levels observed at a
    time: a bar may only see what was observed by its close, and an old observation is a stale
    level, so it stays missing. The result is indexed by ``opens``.
    """
    left = pd.DataFrame({"close_time": (opens + step).as_unit("ns")})
    right = snapshots.sort_index(kind="stable").rename_axis("snap_time").reset_index()
    right["snap_time"] = pd.DatetimeIndex(right["snap_time"]).as_unit("ns")
    merged = pd.merge_asof(
        left,
        right,
        left_on="close_time",
        right_on="snap_time",
        direction="backward",
        allow_exact_matches=True,
        tolerance=max_age,
    )
    return merged.drop(columns=["close_time", "snap_time"]).set_axis(opens, axis=0)


def ohlc_from_close(close: pd.Series, bar: pd.Timedelta) -> pd.DataFrame:
    """Open/high/low/close from point prices: open is the previous bar's close when contiguous.

    For sources with one price per bar (snapshots): high/low are then max/min of open and
    close, so ranges are understated but the move from bar to bar is kept; after a gap the
    bar opens at its own close rather than inventing a move across the gap.
    """
    previous = close.shift(1)
    contiguous = pd.Series(close.index, index=close.index).diff() == bar
    open_ = previous.where(contiguous, close)
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
        },
        index=close.index,
    )


def finish(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate an importer's result against the canonical schema and the bar grid."""
    out = validate_frame(frame, source)
    if len(out) > 1:
        check_on_grid(out.index, infer_bar(out.index, source), source)
    return out
