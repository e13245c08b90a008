"""Alert rules compared on the real development set and simulator seeds (issue 18, "Onset alerts").

For each placement, the project's walk-forward once (one booster seed), then the event study under
each alert rule of the model: from "high" in every hour (the rule before), and in calm hours only
(no squeeze of the label ended in the last 6 h, ``features.labels.running_cascade``) from "high",
from 3x the base-rate odds and from "elevated" (the rule kept). Each line: onsets warned model /
logistic / persistence at the model's alert budget (every baseline at its own threshold, chosen on
its training rows), continuations warned model / persistence, alert share and false-alarm hours a
week model / persistence. Then every predictor under the kept rule itself (silent while a squeeze
runs, its cut on its own calm training rows): does the gain come from the rule or the ranking?

Run:  .venv/bin/python benchmarks/alert_rules.py [--sim-seeds 7,8,9] [--skip-real]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import model_experiments as me
import split_candidates

from features import LabelSpec, labelled_windows
from training.budget import equal_budget_thresholds
from training.events import event_study
from training.fit import TrainConfig, run_walk_forward
from training.jobs import read_persistence, read_strength, with_alert_rule
from training.protocol import ProtocolConfig
from training.walkforward import WalkForwardConfig

# split_candidates' three real placements, plus `flushrisk train`'s defaults (5 folds after 40 %)
SETUPS = {**split_candidates.SETUPS, "train defaults": {}}
# rule name -> (odds multiple of the alert level, silent while a squeeze runs)
RULES = {"every hour, high": (4.0, False), "calm, high": (4.0, True), "calm, 3x": (3.0, True),
         "calm, elevated (kept)": (2.0, True)}


def line(study: dict) -> str:
    per = study["predictors"]
    m, p = per["model"], per["persistence"]
    return (f"{m['onset_hits']}/{per['logistic']['onset_hits']}/{p['onset_hits']} of {study['onsets']}; "
            f"cont. {m['continuation_hits']}/{p['continuation_hits']}; "
            f"{m['alert_share']:.1%}/{p['alert_share']:.1%}; "
            f"{m['false_alarms_per_week']:.1f}/{p['false_alarms_per_week']:.1f} h/wk")


def placement(name: str, frame: pd.DataFrame, spec: LabelSpec, kw: dict) -> None:
    X, y = labelled_windows(frame, spec)[:2]
    config = TrainConfig(seeds=1, walk_forward=WalkForwardConfig(**kw), protocol=ProtocolConfig(resamples=100))
    wf = run_walk_forward(X, y, pd.Timedelta("1h"), config, strength=read_strength(frame, spec, X.index),
                          label_kind=spec.kind, persistence=read_persistence(frame, spec, X.index))
    with_alert_rule(wf, frame, spec, X.index)
    horizon = pd.Timedelta(spec.horizon)
    elevated = np.asarray(wf.thresholds, dtype=float)  # the defaults' alert level: 2x the odds
    odds = elevated / (1 - elevated) / 2.0
    folds = [r.train_scores for r in wf.folds]
    print(f"{name} (load {os.getloadavg()[0]:.1f})", flush=True)
    for rule, (multiple, calm) in RULES.items():
        model = multiple * odds / (1 + multiple * odds)
        if calm:
            model = np.where(wf.running, np.inf, model)
        thresholds, _ = equal_budget_thresholds(wf.predictions, model, wf.fold_of_row, folds)
        study = event_study(wf.index, wf.predictions, wf.y, thresholds, wf.bar, horizon,
                            running=wf.running, resamples=50)
        print(f"  {rule:<24}{line(study)}", flush=True)
    same = wf.same_rule_thresholds()
    study = event_study(wf.index, wf.predictions, wf.y, same, wf.bar, horizon, running=wf.running, resamples=50)
    print("  every predictor under the kept rule: " + ", ".join(
        f"{k} {v['onset_hits']} ({v['alert_share']:.1%})" for k, v in study["predictors"].items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim-seeds", default="7,8,9")
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    np.seterr(all="ignore")
    me.candidate_booster({"mono": True})  # the defaults' monotone constraints, as trained models have
    if not args.skip_real:
        if not me.REAL.exists():
            sys.exit(f"the real development set is not at {me.REAL}: see ../shared/data/README")
        real = me.load_real()
        for name, kw in SETUPS.items():
            placement(f"real, {name}", real, LabelSpec(kind="liquidation", horizon="1h", threshold_usd=5e6), kw)
    seeds = [int(s) for s in args.sim_seeds.split(",") if s]
    for name, frame, spec, kw in me.load_sets(["sim"], seeds) if seeds else []:
        placement(name, frame, spec, kw)


if __name__ == "__main__":
    main()
