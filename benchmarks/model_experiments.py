"""Model candidates under the protocol on the real development set, simulator seeds and OKX.

An experiment harness, not part of the package: each candidate is a (features transform,
TrainConfig) pair run through the project's walk-forward (``training.fit.run_walk_forward``) and
protocol (``training.protocol.protocol_report``: paired day-block bootstrap CIs). Besides PR-AUC
it counts ONSETS warned at an equal alert budget: every predictor alerts on its own top
``--budget`` share of out-of-fold hours, and an onset (a positive row with no positive row in the
6 h before it) counts as warned when the predictor alerted in the 6 h up to it.

Run:  .venv/bin/python benchmarks/model_experiments.py --sets real,sim,okx --candidates base,blend50
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features import LabelSpec, labelled_windows
from training.fit import TrainConfig, run_walk_forward
from training.jobs import read_persistence, read_strength
from training.protocol import ProtocolConfig, protocol_report
from training.walkforward import WalkForwardConfig

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL = SHARED / "coinglass_btc_1h_dev.csv"
OKX = SHARED / "okx_btc_usd_swap_1h.csv"
# Folds on the real set: testing starts after 25 % of its 110 days (early January), so the
# January/February crash falls inside a test fold.
REAL_WF = {"n_folds": 6, "initial_train_fraction": 0.25}
SIM_WF = {"n_folds": 5, "initial_train_fraction": 0.4}
LEVERAGE_PATTERNS = (
    (r"^funding_(rate|annualized|cum_24h)$", +1),
    (r"^oi_(coin_)?growth_24h$", +1),
)


def _base_patterns() -> tuple:
    import models.lgbm

    return tuple(p for p in models.lgbm.MONOTONE_PATTERNS if p not in LEVERAGE_PATTERNS)


BASE_PATTERNS = _base_patterns()


def onsets_warned(index: pd.DatetimeIndex, y: np.ndarray, scores: dict[str, np.ndarray],
                  budget: float, window: int = 6) -> tuple[int, dict[str, int]]:
    """Onsets, and per predictor how many had an alert (top ``budget`` share) in the 6 h up to it."""
    hours = pd.Series(y, index=index)
    full = hours.reindex(pd.date_range(index[0], index[-1], freq="1h"))
    prior = full.shift(1).rolling(window, min_periods=1).max().reindex(index).fillna(0).to_numpy()
    onset = (y == 1) & (prior == 0)
    out = {}
    for name, p in scores.items():
        cut = np.nanquantile(p, 1 - budget)
        alert = pd.Series((p >= cut).astype(float), index=index)
        fa = alert.reindex(pd.date_range(index[0], index[-1], freq="1h")).fillna(0)
        recent = fa.rolling(window, min_periods=1).max().reindex(index).to_numpy()
        out[name] = int(((recent > 0) & onset).sum())
    return int(onset.sum()), out


def run(frame: pd.DataFrame, spec: LabelSpec, config: TrainConfig,
        transform: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame] | None,
        budget: float) -> dict:
    X, y, _meta = labelled_windows(frame, spec)
    if transform is not None:
        X = transform(X, frame)
    strength = read_strength(frame, spec, X.index)
    wf = run_walk_forward(X, y, pd.Timedelta("1h"), config, strength=strength, label_kind=spec.kind,
                          persistence=read_persistence(frame, spec, X.index))
    rep = protocol_report(wf.predictions, wf.y, wf.index, wf.bar, wf.thresholds, config=config.protocol)
    n_on, warned = onsets_warned(wf.index, wf.y, wf.predictions, budget)
    share = float(np.mean(wf.predictions["model"] >= wf.thresholds))
    at_share = onsets_warned(wf.index, wf.y, wf.predictions, max(share, 1e-3))[1]
    return {"report": rep, "onsets": n_on, "warned": warned, "wf": wf, "share": share, "at_share": at_share}


def line(name: str, res: dict) -> str:
    rep = res["report"]["metrics"]
    full = res["report"]

    def gap(b: str) -> str:
        g = full["differences"][b]["pr_auc"]
        if g["value"] is None:
            return "-"
        lo, hi = g["ci"]
        return f"{g['value']:+.3f} [{lo:+.3f},{hi:+.3f}]"

    w = res["warned"]
    return (f"{name:<22} model {rep['model']['pr_auc']:.3f} logit {rep['logistic']['pr_auc']:.3f} "
            f"pers {rep['persistence']['pr_auc']:.3f} | vs logit {gap('logistic')} vs pers {gap('persistence')}"
            f" | onsets {w['model']}/{w['logistic']}/{w['persistence']} of {res['onsets']}"
            f" (at the model's alert share {res['share']:.1%}: {res['at_share']['model']}/"
            f"{res['at_share']['logistic']}/{res['at_share']['persistence']})"
            f" | ECE {rep['model'].get('ece', float('nan')):.4f}")


def load_real() -> pd.DataFrame:
    from features.sources.coinglass import import_coinglass

    return import_coinglass(REAL)


def load_sets(names: list[str], seeds: list[int]) -> list[tuple[str, pd.DataFrame, LabelSpec, dict]]:
    from features.sources.simulator import simulate
    from training.cli.quickstart import SIMULATED_BTC_THRESHOLD_USD

    out = []
    if "real" in names:
        out.append(("real", load_real(), LabelSpec(kind="liquidation", horizon="1h", threshold_usd=5e6), REAL_WF))
    if "sim" in names:
        for s in seeds:
            out.append((f"sim{s}", simulate("BTC", days=365, bar="1h", seed=s),
                        LabelSpec(kind="liquidation", horizon="1h", threshold_usd=SIMULATED_BTC_THRESHOLD_USD),
                        SIM_WF))
    if "okx" in names:
        from features.sources.okx import import_okx_hourly

        out.append(("okx", import_okx_hourly(OKX), LabelSpec(kind="proxy"), SIM_WF))
    return out


def candidates() -> dict[str, tuple[Callable | None, dict]]:
    """name -> (X transform, TrainConfig overrides on the booster config)."""
    def hours(X: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
        angle = 2 * np.pi * X.index.hour / 24
        return X.assign(hour_sin=np.sin(angle), hour_cos=np.cos(angle))

    old = {"linear_target": "label"}
    nocas = {"linear_exclude_groups": ("cascade",)}
    return {
        "current": (None, {"mono": True}),
        "before": (None, {**old, "blend": 0.7}),
        "label50": (None, {**old, "blend": 0.5}),
        "booster": (None, {"blend": 1.0}),
        "size70": (None, {"blend": 0.7}),
        "size50": (None, {"blend": 0.5}),
        "size30": (None, {"blend": 0.3}),
        "size15": (None, {"blend": 0.15}),
        "size50_nocas": (None, {"blend": 0.5, **nocas}),
        "size30_nocas": (None, {"blend": 0.3, **nocas}),
        "label50_nocas": (None, {**old, "blend": 0.5, **nocas}),
        "size30_hours": (hours, {"blend": 0.3}),
        "label30": (None, {**old, "blend": 0.3}),
        "size70_nocas": (None, {"blend": 0.7, **nocas}),
        "size30_nocas_mono": (None, {"blend": 0.3, **nocas, "mono": True}),
        "auto": (None, {"linear_target": "auto", **nocas}),
        "size_only": (None, {"blend": 0.01, **nocas}),
        "size50_nocas_hours": (hours, {"blend": 0.5, **nocas}),
        "size30_nocas_hours": (hours, {"blend": 0.3, **nocas}),
    }


def candidate_booster(over: dict):
    """The booster config of a candidate's overrides; sets the monotone patterns it asks for."""
    import models.lgbm as lgbm_module

    lgbm_module.MONOTONE_PATTERNS = LEVERAGE_PATTERNS + BASE_PATTERNS if over.get("mono") else BASE_PATTERNS
    booster = TrainConfig().booster.model_copy(
        update={k: v for k, v in over.items() if k not in ("params", "mono", "train")})
    return booster.with_params(**over["params"]) if "params" in over else booster


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default="real")
    parser.add_argument("--seeds", default="7,8,9")
    parser.add_argument("--candidates", default="base")
    parser.add_argument("--budget", type=float, default=0.10)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--horizon", default="1h")
    args = parser.parse_args()
    np.seterr(all="ignore")
    table = candidates()
    sets = load_sets(args.sets.split(","), [int(s) for s in args.seeds.split(",")])
    for set_name, frame, spec, wf_kw in sets:
        if args.horizon != "1h":
            spec = spec.model_copy(update={"horizon": args.horizon})
            wf_kw = {**wf_kw, "horizon": pd.Timedelta(args.horizon)}
        for cand in args.candidates.split(","):
            transform, over = table[cand]
            booster = candidate_booster(over)
            config = TrainConfig(seeds=1, booster=booster, walk_forward=WalkForwardConfig(**wf_kw),
                                 protocol=ProtocolConfig(resamples=args.bootstrap),
                                 **over.get("train", {}))
            t0 = time.perf_counter()
            res = run(frame, spec, config, transform, args.budget)
            print(f"{set_name:<6} {line(cand, res)} ({time.perf_counter() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
