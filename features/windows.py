"""The training set: features and labels of every labelled bar, and what they are.

The ``WindowsMeta`` travels with the data (Parquet metadata, MLflow params, model metadata):
which bar, which signal groups were present, which label, which time range.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from features.bars import bar_name
from features.errors import DataError
from features.labels import LabelSpec, format_duration, make_labels
from features.pipeline import FEATURES, build_features
from features.rolling import Grid


class WindowsMeta(BaseModel):
    """What a set of labelled windows contains."""

    model_config = ConfigDict(frozen=True)

    bar: str
    groups: list[str]
    label_spec: dict[str, Any]
    start: datetime | None
    end: datetime | None
    rows: int
    positives: int
    base_rate: float
    stride: str | None = None
    features: list[str] = list(FEATURES)


def labelled_windows(
    frame: pd.DataFrame,
    spec: LabelSpec,
    stride: str | pd.Timedelta | None = None,
    bar: str | pd.Timedelta | None = None,
) -> tuple[pd.DataFrame, pd.Series, WindowsMeta]:
    """Features X and labels y of the rows that have a label, optionally one row per ``stride``.

    ``stride`` (a duration, a multiple of the bar) keeps the rows whose open time is a multiple
    of it: '1h' on 5-minute bars keeps the bars opening on the hour, so that consecutive
    training rows do not share most of their forward window.
    """
    from features.schema import signal_groups  # pandera is heavy: keep `import features` light

    grid = Grid.from_frame(frame, bar=bar, source="labelled_windows")
    X = build_features(frame, bar=grid.bar)
    y = make_labels(frame, spec, bar=grid.bar)
    keep = y.notna().to_numpy().copy()
    stride_text = None
    if stride is not None:
        step = _stride(stride, grid.bar)
        stride_text = format_duration(step)
        keep &= frame.index.as_unit("ns").asi8 % step.value == 0
    if not keep.any():
        raise DataError(
            f"no labelled rows: every row's {format_duration(spec.horizon)} forward window "
            f"crosses a gap or the end of the data ({len(frame)} rows"
            + (f", stride {stride_text}" if stride_text else "")
            + ")"
        )
    X, y = X[keep], y[keep]
    positives = int(y.sum())
    meta = WindowsMeta(
        bar=bar_name(grid.bar),
        groups=signal_groups(frame),
        label_spec=spec.to_dict(),
        start=X.index[0],
        end=X.index[-1],
        rows=len(y),
        positives=positives,
        base_rate=positives / len(y),
        stride=stride_text,
        features=list(FEATURES),
    )
    return X, y, meta


def _stride(stride: str | pd.Timedelta, bar: pd.Timedelta) -> pd.Timedelta:
    try:
        step = pd.Timedelta(stride)
    except ValueError:
        raise DataError(f"stride {stride!r} is not a duration (examples: '1h', '15min')") from None
    if step < bar or step % bar != pd.Timedelta(0):
        raise DataError(
            f"stride {format_duration(step)} must be a whole multiple of the "
            f"{format_duration(bar)} bar"
        )
    return step


__all__ = ["WindowsMeta", "labelled_windows"]
