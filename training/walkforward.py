"""Walk-forward splits with purge and embargo: honest out-of-sample folds for time series.

The test period is cut into ``n_folds`` consecutive, equally long blocks after an initial
training span: ``initial_train_fraction`` of the time span by default, or exactly ``min_train``
(e.g. 30 days) when given, so that the folds can reach an event early in the data. Each fold trains on rows BEFORE its test block, either all of them (expanding)
or the latest ``window`` (rolling), and predicts the block.

Why purge and embargo. A row's label looks ahead over ``(t, t + horizon]``. A training row just
before the test block has a label window that overlaps the test block, so training on it would
leak test outcomes. *Purge* drops training rows whose label window reaches the test block
(``purge >= horizon``, enforced). *Embargo* adds a further gap, because features of adjacent
rows share their look-back windows and so are strongly correlated across the boundary.
Training rows therefore satisfy ``t < test_start - purge - embargo``.

With ``test_from`` there is one fold: train before that date (purged), test from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.errors import DataError


class WalkForwardConfig(BaseModel):
    """The walk-forward set-up (recorded as MLflow params)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    scheme: Literal["expanding", "rolling"] = "expanding"
    n_folds: int = Field(5, ge=1, le=50)
    initial_train_fraction: float = Field(
        0.4, gt=0, lt=1, description="Share of the time span before the first test block."
    )
    min_train: pd.Timedelta | None = Field(
        None, description="Training span before the first test block (overrides the fraction)."
    )
    window: pd.Timedelta | None = Field(
        None, description="Rolling scheme: how much history each fold trains on."
    )
    horizon: pd.Timedelta = pd.Timedelta(hours=1)
    purge: pd.Timedelta | None = Field(None, description="Default: the label horizon.")
    embargo: pd.Timedelta | None = Field(None, description="Default: the label horizon.")
    test_from: pd.Timestamp | None = None

    @field_validator("window", "horizon", "purge", "embargo", "min_train", mode="before")
    @classmethod
    def _timedelta(cls, value: object) -> object:
        return None if value is None else pd.Timedelta(value)

    @field_validator("test_from", mode="before")
    @classmethod
    def _timestamp(cls, value: object) -> object:
        if value is None:
            return None
        ts = pd.Timestamp(value)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")

    @model_validator(mode="after")
    def _check(self) -> WalkForwardConfig:
        if self.purge is not None and self.purge < self.horizon:
            raise ValueError(
                f"purge {self.purge} is shorter than the label horizon {self.horizon}: "
                "training labels would overlap the test period"
            )
        if self.min_train is not None and self.min_train <= pd.Timedelta(0):
            raise ValueError(f"--min-train {self.min_train} must be positive (e.g. 30 days)")
        if self.scheme == "rolling" and self.window is None:
            raise ValueError("the rolling scheme needs a window (e.g. 90D)")
        return self

    @property
    def purge_(self) -> pd.Timedelta:
        return self.purge if self.purge is not None else self.horizon

    @property
    def embargo_(self) -> pd.Timedelta:
        return self.embargo if self.embargo is not None else self.horizon

    @property
    def gap(self) -> pd.Timedelta:
        """Minimum time between the last training row and the first test row."""
        return self.purge_ + self.embargo_

    def params(self) -> dict[str, str]:
        return {
            "wf_scheme": self.scheme,
            "wf_n_folds": str(1 if self.test_from is not None else self.n_folds),
            "wf_initial_train_fraction": str(self.initial_train_fraction),
            "wf_min_train": str(self.min_train),
            "wf_window": str(self.window),
            "wf_purge": str(self.purge_),
            "wf_embargo": str(self.embargo_),
            "wf_test_from": str(self.test_from),
        }


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: row positions of its training and test rows."""

    number: int
    train: np.ndarray
    test: np.ndarray
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def describe(self) -> str:
        return (
            f"fold {self.number}: train {self.train_start:%Y-%m-%d %H:%M} .. "
            f"{self.train_end:%Y-%m-%d %H:%M} ({len(self.train)} rows), test "
            f"{self.test_start:%Y-%m-%d %H:%M} .. {self.test_end:%Y-%m-%d %H:%M} ({len(self.test)} rows)"
        )


def _fold(number: int, index: pd.DatetimeIndex, train: np.ndarray, test: np.ndarray) -> Fold:
    return Fold(
        number=number,
        train=train,
        test=test,
        train_start=index[train[0]],
        train_end=index[train[-1]],
        test_start=index[test[0]],
        test_end=index[test[-1]],
    )


def walk_forward_splits(index: pd.DatetimeIndex, config: WalkForwardConfig) -> list[Fold]:
    """The folds for time-ordered rows at ``index`` (positions into it).

    Folds whose training or test part would be empty are skipped; no fold at all is an error
    that says why.
    """
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        raise DataError("walk-forward needs at least 2 rows with a DatetimeIndex")
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataError("walk-forward needs strictly increasing row times")
    times = index.as_unit("ns").asi8
    if config.test_from is not None:
        if not index[0] < config.test_from <= index[-1]:
            raise DataError(
                f"--test-from {config.test_from} is outside the data ({index[0]} .. {index[-1]})"
            )
        boundaries = [config.test_from, index[-1] + pd.Timedelta(1, "ns")]
    else:
        start, end = index[0], index[-1] + pd.Timedelta(1, "ns")
        if config.min_train is not None:
            first = start + config.min_train
            if first >= end:
                raise DataError(
                    f"--min-train {config.min_train} leaves nothing to test: the data span "
                    f"{index[0]} .. {index[-1]} ({index[-1] - index[0]})"
                )
        else:
            first = start + (end - start) * config.initial_train_fraction
        step = (end - first) / config.n_folds
        boundaries = [first + step * k for k in range(config.n_folds)] + [end]
    folds: list[Fold] = []
    for k in range(len(boundaries) - 1):
        lo, hi = boundaries[k], boundaries[k + 1]
        test = np.flatnonzero((times >= lo.value) & (times < hi.value))
        train_end = lo - config.gap
        mask = times < train_end.value
        if config.scheme == "rolling" and config.window is not None:
            mask &= times >= (train_end - config.window).value
        train = np.flatnonzero(mask)
        if len(test) and len(train):
            folds.append(_fold(len(folds), index, train, test))
    if not folds:
        raise DataError(
            f"no walk-forward fold has both training and test rows between {index[0]} and "
            f"{index[-1]} ({len(index)} rows, gap {config.gap}); use more data or fewer folds"
        )
    return folds


__all__ = ["Fold", "WalkForwardConfig", "walk_forward_splits"]
