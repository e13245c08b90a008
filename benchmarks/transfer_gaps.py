"""Where simulated hours differ from real ones, as the model sees them: the diagnosis behind
``benchmarks/transfer.py``.

Realism facts are marginal statistics; transfer depends on the *conditional* relationships a
model learns. On the real development set's labelled rows and on simulated rows labelled the
same way (``transfer.sim_rows``: $5M scaled by the simulated market's size), this prints:

1. **adversarial validation**: the 4-fold AUC of a small LightGBM telling simulated rows from
   real ones on the model's own features, and the features it uses most (1.0 = told apart
   every time, 0.5 = indistinguishable);
2. **single-feature label AUC**, simulated against real, for the features where they differ
   most: a feature whose AUC is far from 0.5 on one side and not on the other is a
   relationship the simulator teaches and real hours do not show (or the reverse);
3. **the label's structure**: base rate, mean run of positive hours, share of onsets;
4. **open interest in coins**: sd of its hourly change and its correlation with the hour's
   long liquidations / OI (the gap this round's simulator change closed).

Run: ``.venv/bin/python benchmarks/transfer_gaps.py [--seeds 11,12] [--preset default]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict
from transfer import DEV_FILE, REAL_USD, sim_rows

from features import LabelSpec, labelled_windows
from features.sources.simulator import get_preset, simulate


def adversarial(X_real: pd.DataFrame, X_sim: pd.DataFrame, top: int = 8) -> tuple[float, pd.Series]:
    """4-fold AUC of a classifier telling simulated rows (0) from real ones (1), and its
    features' share of gain."""
    import lightgbm as lgb

    X = pd.concat([X_real, X_sim]).reset_index(drop=True)
    side = np.r_[np.ones(len(X_real)), np.zeros(len(X_sim))]
    clf = lgb.LGBMClassifier(
        n_estimators=200, learning_rate=0.05, num_leaves=15, subsample=0.8, subsample_freq=1,
        colsample_bytree=0.8, verbose=-1,
    )
    p = cross_val_predict(clf, X, side, cv=4, method="predict_proba")[:, 1]
    clf.fit(X, side)
    gain = pd.Series(clf.booster_.feature_importance("gain"), index=X.columns)
    return float(roc_auc_score(side, p)), (gain / gain.sum()).sort_values(ascending=False)[:top]


def label_auc(X: pd.DataFrame, y: np.ndarray) -> pd.Series:
    """AUC of each feature alone for the label (NaN where it cannot be measured)."""
    out = {}
    for name in X.columns:
        v = X[name].to_numpy(np.float64)
        ok = np.isfinite(v)
        if ok.sum() < 100 or np.nanstd(v[ok]) == 0 or not 0 < y[ok].sum() < ok.sum():
            out[name] = np.nan
            continue
        out[name] = roc_auc_score(y[ok], v[ok])
    return pd.Series(out)


def runs(y: np.ndarray) -> tuple[float, float]:
    """Mean run of positive hours, and onsets (first positive hours) per positive hour."""
    edges = np.diff(np.r_[0, y.astype(int), 0])
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return float(lengths.mean()), float(len(lengths) / max(y.sum(), 1))


def oi_churn(frame: pd.DataFrame) -> tuple[float, float]:
    """sd of the hourly change of log OI in coins; its correlation with long liq / OI."""
    coins = np.log(frame["open_interest_usd"] / frame["close"]).diff()
    liq = frame["long_liq_usd"] / frame["open_interest_usd"].shift(1)
    return float(coins.std()), float(coins.corr(liq))


def main(argv: list[str] | None = None) -> None:
    from features.sources.coinglass import import_coinglass

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="11,12")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--dev", type=Path, default=DEV_FILE)
    args = parser.parse_args(argv)
    if not args.dev.exists():
        print(f"transfer_gaps: skipped, {args.dev} is absent")
        return
    t0 = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    config = get_preset(args.preset)
    real = import_coinglass(args.dev)
    X_real, y_real_s, _ = labelled_windows(real, LabelSpec(threshold_usd=REAL_USD))
    y_real = y_real_s.to_numpy(np.float64)
    X_sim, y_sim, usd = sim_rows(config, real, X_real, seeds, 365)

    auc, gain = adversarial(X_real, X_sim)
    print(f"\nreal dev rows {len(X_real)} vs preset {args.preset!r} seeds {seeds} ({len(X_sim)} rows)")
    print(f"adversarial validation AUC {auc:.3f}; its features (share of gain):")
    for name, share in gain.items():
        print(f"  {name:<26}{share:6.3f}   median real {X_real[name].median():9.4g}, "
              f"simulated {X_sim[name].median():9.4g}")
    table = pd.DataFrame({"real": label_auc(X_real, y_real), "simulated": label_auc(X_sim, y_sim)})
    table["gap"] = table["simulated"] - table["real"]
    table = table.reindex(table["gap"].abs().sort_values(ascending=False).index)
    print("single-feature label AUC, largest gaps (0.5 = no signal):")
    print(table.head(15).round(3).to_string())
    for name, y in (("real", y_real), ("simulated", y_sim)):
        mean_run, onsets = runs(y)
        print(f"label on {name}: base rate {y.mean():.3f}, mean run {mean_run:.2f} h, "
              f"onsets {onsets:.2f} of positive hours")
    print(f"(simulated label: long liquidations >= ${usd / 1e6:.2f}M, $5M at the real OI)")
    sd, corr = oi_churn(real)
    print(f"OI in coins, real: hourly change sd {sd:.4f}, corr with long liq/OI {corr:+.2f}")
    for seed in seeds:
        sd, corr = oi_churn(simulate("BTC", days=365, bar="1h", seed=seed, config=config))
        print(f"OI in coins, seed {seed}: hourly change sd {sd:.4f}, corr with long liq/OI {corr:+.2f}")
    print(f"({time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
