"""bench_training.py with the model as it was before issue 18 (for the before/after table).

The previous defaults: logistic linear part on the labels, blend 0.7, the cascade group in the
linear part, funding and open-interest growth unconstrained, and no hour-of-day features (their
columns are dropped from the windows, so the baselines do not see them either).

Run:  .venv/bin/python benchmarks/bench_before_issue18.py [bench_training.py options]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_training

from features.groups import calendar
from models import lgbm
from models.lgbm import BoosterConfig
from training.fit import TrainConfig

BEFORE = BoosterConfig(blend=0.7, linear_target="label", linear_exclude_groups=())
lgbm.MONOTONE_PATTERNS = tuple(p for p in lgbm.MONOTONE_PATTERNS if not p[0].startswith(("^funding", "^oi_")))


def _train_config(**kw):
    return TrainConfig(booster=BEFORE, **kw)


def _without_calendar(frame, spec, *args, **kw):
    X, y, meta = _labelled(frame, spec, *args, **kw)
    return X.drop(columns=list(calendar.NAMES)), y, meta


_labelled = bench_training.labelled_windows
bench_training.labelled_windows = _without_calendar
bench_training.TrainConfig = _train_config

if __name__ == "__main__":
    bench_training.main()
