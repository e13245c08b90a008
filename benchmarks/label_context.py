"""Label-context columns, measured by ``bench_training.py --label-context`` and NOT used by the model.

The idea (issue 9): the pipeline's features are scale-free (liquidations over open interest,
moves in volatility units), while a USD label threshold is not: $5M is routine at $20B of open
interest and rare at $2B. The persistence baseline sees the label's own quantity; the model
could get it too:

* ``label_last_window``: the label's quantity in the window (t - horizon, t] over its threshold
  (:func:`features.labels.last_window_strength`, known at t);
* ``label_threshold_oi_share`` (USD thresholds only): threshold_usd / open interest at t.

Measured with the protocol (walk-forward, one booster seed) on the benchmark label ($1.75M within
1 h), mean model PR-AUC on BTC seeds 7-11: 0.209 without, 0.205 with both columns, 0.206 with
the share alone, 0.203 with the last window alone; on 180-day sims (seeds 7-11) 0.270 vs 0.264;
OKX proxy 0.020 vs 0.021. In the full benchmark (3 booster seeds, seeds 7/8/9) 0.240/0.214/0.168
without and 0.237/0.204/0.175 with; pooled margin over logistic +0.021 without, +0.014 with
(logistic sees the columns too and gains more from them). They do not win (the model already has liq_long_bar_oi = last hour's
liquidations / open interest, of which label_last_window is a rescaling by the share), so they
are not part of the model's feature list; this module keeps the measurement repeatable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.labels import LabelSpec, last_window_strength

LAST_WINDOW = "label_last_window"
THRESHOLD_OI_SHARE = "label_threshold_oi_share"


def label_context_names(spec: LabelSpec) -> tuple[str, ...]:
    """The columns for a label spec: the share only with a USD threshold (else a constant)."""
    if spec.kind == "liquidation" and spec.threshold_usd is not None:
        return (LAST_WINDOW, THRESHOLD_OI_SHARE)
    return (LAST_WINDOW,)


def with_label_context(X: pd.DataFrame, frame: pd.DataFrame, spec: LabelSpec) -> pd.DataFrame:
    """Feature rows ``X`` (indexed by times of ``frame``) with the label-context columns."""
    names = label_context_names(spec)
    out = pd.DataFrame(index=frame.index)
    out[LAST_WINDOW] = last_window_strength(frame, spec).to_numpy(np.float64)
    if THRESHOLD_OI_SHARE in names:
        oi = frame["open_interest_usd"].to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(all="ignore"):
            out[THRESHOLD_OI_SHARE] = np.where(oi > 0, float(spec.threshold_usd) / oi, np.nan)
    return pd.concat([X, out.loc[:, list(names)].reindex(X.index)], axis=1)
