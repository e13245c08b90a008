"""Hyper-parameter tuning with Optuna on an inner walk-forward that the evaluation never tests on.

Design (honest by construction). The outer walk-forward (:mod:`training.walkforward`) tests on
every row from its first test block on. Tuning therefore sees only the training rows of the
FIRST outer fold, the rows before ``first test block - purge - embargo``, and the tuning function
is handed nothing else. Inside them an inner expanding walk-forward (``inner_folds`` folds, the
same purge and embargo) fits one booster per inner fold and trial; the objective is the pooled
PR-AUC of the inner out-of-fold predictions. The chosen parameters then go through the outer
walk-forward exactly like the defaults (every outer fold refits with them, the report is the
same protocol), and the final model, trained on all rows, uses them. Per-fold nested tuning
would cost ``folds`` times as much on a 2-core machine and was not chosen.

Objective: PR-AUC by default. The reported headline and the verdict are PR-AUC, so tuning
aims at what the protocol judges. Each inner fold's predictions are calibrated exactly as the
outer folds' are (:func:`training.fit.calibrate` on the out-of-sample predictions available
before that block), so the pooled inner figure is the same kind of number the report shows,
and a log loss of them is honest too: the booster's raw probability is deliberately off the
label's scale (near-miss target, blend), so uncalibrated log loss would reward what the
calibrator fixes anyway. ``objective="log_loss"`` minimises that calibrated log loss instead:
it uses every row, not only the ranking near the few positives, so it is the less noisy of the
two on small data, but it is not what the verdict measures. Both are recorded for every trial.

Search space: what matters with ~100 positives among a few thousand rows: tree size
(``num_leaves``), how many rows and how much hessian a leaf needs (``min_data_in_leaf``,
``min_sum_hessian_in_leaf``: on the cross-entropy objective a leaf of near-zero probabilities has
a tiny hessian), column and row subsampling (``feature_fraction``, ``bagging_fraction``), L1/L2
regularisation, the learning rate (early stopping picks the rounds), and the blend weight of the
booster's log-odds against the logistic part's (:mod:`models.linear`). The first trial is the
current default set, so the search can only move away from it when the inner score says so.
TPE with a fixed seed (a run is repeatable), a median pruner after each inner fold, and a timeout.

The guard. Inner scores on a few thousand rows with ~100 positives are noisy, and the best of
N trials is the luckiest as much as the best. On simulated symbol-years the searched parameters
scored BELOW the defaults out of sample (benchmarks/bench_tuning.py, README). So by default the
best trial replaces the defaults only when it beats them clearly on the inner rows: the paired
day-block bootstrap 90 % CI of the difference lies above zero (:func:`clear_gain`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.errors import DataError
from models.lgbm import BoosterConfig, fit_booster, training_target
from training.metrics import average_precision, log_loss
from training.walkforward import WalkForwardConfig, walk_forward_splits

DESIGN = (
    "Optuna TPE on an inner expanding walk-forward inside the training rows of the first outer "
    "fold only (same purge and embargo); objective: pooled, calibrated inner out-of-fold PR-AUC "
    "(or log loss); the chosen "
    "parameters are then evaluated on every outer fold and used by the final model"
)
OBJECTIVES = {
    "pr_auc": "pooled inner out-of-fold PR-AUC (calibrated as the outer folds are)",
    "log_loss": "pooled inner out-of-fold log loss (calibrated as the outer folds are)",
}
MIN_INNER_POSITIVES = 10


class TuneConfig(BaseModel):
    """How tuning runs (recorded as MLflow params of the training run)."""

    model_config = ConfigDict(frozen=True)

    trials: int = Field(20, ge=1, le=2000, description="most trials")
    timeout: float | None = Field(None, gt=0, description="stop starting trials after this many seconds")
    inner_folds: int = Field(3, ge=2, le=10)
    inner_initial_fraction: float = Field(0.4, gt=0, lt=1)
    sampler_seed: int = 7
    prune: bool = True
    tune_blend: bool = True
    objective: Literal["pr_auc", "log_loss"] = "pr_auc"
    guard: bool = Field(True, description="keep the defaults unless the best trial beats them clearly")
    guard_resamples: int = Field(200, ge=20, le=10_000)

    def params(self) -> dict[str, str]:
        return {
            "tune_trials": str(self.trials),
            "tune_timeout_s": str(self.timeout),
            "tune_inner_folds": str(self.inner_folds),
            "tune_sampler_seed": str(self.sampler_seed),
            "tune_pruner": "median" if self.prune else "none",
            "tune_objective": OBJECTIVES[self.objective],
            "tune_guard": "defaults unless the best trial is clearly better (inner paired 90% CI)"
            if self.guard else "none",
        }


@dataclass
class TrialRecord:
    """One trial: its parameters, inner score, per-inner-fold scores, duration and outcome."""

    number: int
    params: dict[str, float | int]
    blend: float
    score: float | None  # the objective: PR-AUC, or log loss
    fold_scores: list[float]
    rounds: list[int]
    seconds: float
    state: str  # "complete", "pruned" or "failed"
    started: float  # unix time, for the MLflow child run
    pr_auc: float | None = None
    log_loss: float | None = None
    seen_until: str | None = None  # latest row time this trial fitted or scored on


@dataclass
class TuningResult:
    """The chosen parameters and everything needed to audit how they were chosen."""

    design: str
    objective: str
    options: dict[str, Any]
    rows: int
    positives: int
    tuned_from: str
    tuned_to: str
    outer_test_from: str
    inner_folds: list[dict[str, Any]]
    trials: list[TrialRecord]
    best_number: int
    default_score: float | None
    seconds: float
    stopped_by: str = "trials"
    guard: dict[str, Any] | None = None  # the defaults-unless-clearly-better check, when it ran

    @property
    def best(self) -> TrialRecord:
        return next(t for t in self.trials if t.number == self.best_number)

    def apply(self, config: Any) -> Any:
        """``config`` (a TrainConfig) with the chosen booster parameters and blend; unchanged when
        the defaults (trial 0, clipped into the search space) scored best."""
        best = self.best
        if best.number == 0:
            return config
        booster = config.booster.with_params(**best.params).model_copy(update={"blend": best.blend})
        return config.model_copy(update={"booster": booster})

    def summary(self) -> str:
        best = self.best
        default = "-" if self.default_score is None else f"{self.default_score:.4f}"
        return (
            f"tuned {len(self.trials)} trials in {self.seconds:.0f} s on {self.rows} rows "
            f"{self.tuned_from[:16]} .. {self.tuned_to[:16]} (before the first outer test block "
            f"{self.outer_test_from[:16]}): inner {self.options['objective']} {best.score:.4f} "
            f"(trial {best.number}; defaults {default})"
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["best"] = {"number": self.best.number, "score": self.best.score,
                       "params": self.best.params, "blend": self.best.blend,
                       "defaults_kept": self.best.number == 0, "pr_auc": self.best.pr_auc,
                       "log_loss": self.best.log_loss, "objective": self.options["objective"],
                       "searched_best": self.guard["trial"] if self.guard else self.best.number}
        return out


def search_space(trial: Any, tune_blend: bool) -> tuple[dict[str, float | int], float | None]:
    """The booster parameters (and blend) a trial proposes."""
    params: dict[str, float | int] = {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 3, 31, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 400, log=True),
        "min_sum_hessian_in_leaf": trial.suggest_float("min_sum_hessian_in_leaf", 1e-3, 10.0, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.1, 0.9),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l1": trial.suggest_float("lambda_l1", 1e-4, 10.0, log=True),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-2, 30.0, log=True),
    }
    blend = trial.suggest_float("blend", 0.1, 1.0) if tune_blend else None
    return params, blend


def default_trial(booster: BoosterConfig, tune_blend: bool) -> dict[str, float]:
    """The current defaults as a first trial, clipped into the search space."""
    p = booster.params
    values = {
        "learning_rate": p.get("learning_rate", 0.1),
        "num_leaves": p.get("num_leaves", 31),
        "min_data_in_leaf": p.get("min_data_in_leaf", 20),
        "min_sum_hessian_in_leaf": p.get("min_sum_hessian_in_leaf", 1e-3),
        "feature_fraction": p.get("feature_fraction", 1.0),
        "bagging_fraction": p.get("bagging_fraction", 1.0),
        "lambda_l1": p.get("lambda_l1", 0.0),
        "lambda_l2": p.get("lambda_l2", 0.0),
    }
    bounds = {"learning_rate": (0.01, 0.1), "num_leaves": (3, 31), "min_data_in_leaf": (20, 400),
              "min_sum_hessian_in_leaf": (1e-3, 10.0), "feature_fraction": (0.1, 0.9),
              "bagging_fraction": (0.5, 1.0), "lambda_l1": (1e-4, 10.0), "lambda_l2": (1e-2, 30.0)}
    out = {k: min(max(v, bounds[k][0]), bounds[k][1]) for k, v in values.items()}
    if tune_blend:
        out["blend"] = min(max(booster.blend, 0.1), 1.0)
    return out


def tuning_rows(index: pd.DatetimeIndex, walk_forward: WalkForwardConfig) -> tuple[np.ndarray, pd.Timestamp]:
    """Positions of the rows tuning may see (the first outer fold's training rows) and the
    start of the first outer test block."""
    first = walk_forward_splits(index, walk_forward)[0]
    return first.train, first.test_start


def tune_walk_forward(
    X: pd.DataFrame,
    y: pd.Series,
    config: Any,
    strength: pd.Series | None = None,
    options: TuneConfig | None = None,
    on_trial: Callable[[TrialRecord, TuningResult | None, int], None] | None = None,
) -> TuningResult:
    """Tune on the first outer fold's training rows of ``config.walk_forward`` (a TrainConfig's).

    Only those rows are passed on, so no later row can reach a trial. ``strength`` (aligned with
    ``X``) gives the near-miss training target as in :func:`training.fit.run_walk_forward`.
    """
    rows, test_from = tuning_rows(X.index, config.walk_forward)
    yv = y.to_numpy(dtype=np.float64)
    sv = None if strength is None else strength.to_numpy(dtype=np.float64)
    target = training_target(yv, sv, config.booster)
    result = tune(X.iloc[rows], yv[rows], config, target=target[rows], options=options, on_trial=on_trial,
                  strength=None if sv is None else sv[rows])
    result.outer_test_from = str(test_from)
    return result


def _inner_config(walk_forward: WalkForwardConfig, options: TuneConfig) -> WalkForwardConfig:
    return WalkForwardConfig(
        scheme="expanding", n_folds=options.inner_folds,
        initial_train_fraction=options.inner_initial_fraction, horizon=walk_forward.horizon,
        purge=walk_forward.purge_, embargo=walk_forward.embargo_,
    )


def tune(
    X: pd.DataFrame,
    y: np.ndarray,
    config: Any,
    target: np.ndarray | None = None,
    options: TuneConfig | None = None,
    on_trial: Callable[[TrialRecord, TuningResult | None, int], None] | None = None,
    strength: np.ndarray | None = None,
) -> TuningResult:
    """Search booster parameters on ``X``/``y`` alone with an inner walk-forward (module docstring).

    ``config`` is a TrainConfig: its booster is the starting point (trial 0), its walk-forward
    gives the purge and embargo, its calibration settings calibrate the inner folds the way
    :func:`training.fit.run_walk_forward` calibrates the outer ones. ``on_trial(record,
    result_so_far, total)`` is called after every trial (progress lines).
    """
    import optuna

    from training.fit import calibrate

    options = options or TuneConfig()
    booster: BoosterConfig = config.booster
    yv = np.asarray(y, dtype=np.float64)
    tv = yv if target is None else np.asarray(target, dtype=np.float64)
    inner = walk_forward_splits(X.index, _inner_config(config.walk_forward, options))
    test_positives = int(sum(yv[f.test].sum() for f in inner))
    if test_positives < MIN_INNER_POSITIVES or any(yv[f.train].sum() == 0 for f in inner):
        raise DataError(
            f"tuning sees only the {len(X)} rows before the first outer test block ({int(yv.sum())} "
            f"positives), too few for an inner walk-forward of {options.inner_folds} folds (its test "
            f"rows hold {test_positives} positives, need {MIN_INNER_POSITIVES}); use more data, "
            "fewer --folds or no --tune"
        )
    gap = config.walk_forward.gap
    maximize = options.objective == "pr_auc"
    test_rows = np.concatenate([f.test for f in inner])
    predictions: dict[int, np.ndarray] = {}
    records: list[TrialRecord] = []
    started = time.time()
    result = TuningResult(
        design=DESIGN, objective=OBJECTIVES[options.objective], options=options.model_dump(), rows=len(X),
        positives=int(yv.sum()), tuned_from=str(X.index[0]), tuned_to=str(X.index[-1]),
        outer_test_from="", inner_folds=[_describe(f) for f in inner], trials=records,
        best_number=0, default_score=None, seconds=0.0,
    )

    def objective(trial: optuna.Trial) -> float:
        t0 = time.time()
        params, blend = search_space(trial, options.tune_blend)
        blend = booster.blend if blend is None else blend
        trial_config = booster.with_params(**params).model_copy(update={"blend": blend})
        scores: list[float] = []
        rounds: list[int] = []
        record = TrialRecord(trial.number, params, blend, None, scores, rounds, 0.0, "failed", t0)
        records.append(record)
        pool_raw: list[np.ndarray] = []
        pool_y: list[np.ndarray] = []
        pool_p: list[np.ndarray] = []
        for step, fold in enumerate(inner):
            fit = fit_booster(X.iloc[fold.train], yv[fold.train], trial_config, gap=gap, target=tv[fold.train],
                              strength=None if strength is None else strength[fold.train])
            raw = fit.predict_raw(X.iloc[fold.test])
            # calibrated on what was out of sample before this inner test block, as outside
            calibrator = calibrate(
                np.concatenate([*pool_raw, fit.valid_raw]), np.concatenate([*pool_y, fit.valid_y]), config
            )
            pool_raw.append(raw)
            pool_y.append(yv[fold.test])
            pool_p.append(calibrator(raw))
            rounds.append(fit.best_iteration)
            scores.append(average_precision(pool_y[-1], pool_p[-1]))
            record.seen_until = str(X.index[fold.test[-1]])
            y_seen, p_seen = np.concatenate(pool_y), np.concatenate(pool_p)
            record.pr_auc, record.log_loss = average_precision(y_seen, p_seen), log_loss(y_seen, p_seen)
            value = record.pr_auc if maximize else record.log_loss
            record.seconds = time.time() - t0
            if options.prune and step < len(inner) - 1:
                trial.report(value, step)
                if trial.should_prune():
                    record.state = "pruned"
                    raise optuna.TrialPruned()
        record.score = value
        record.state = "complete"
        predictions[trial.number] = p_seen
        record.seconds = time.time() - t0
        return value

    def callback(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        complete = [r for r in records if r.state == "complete"]
        if complete:
            sign = 1.0 if maximize else -1.0
            result.best_number = max(complete, key=lambda r: sign * r.score).number
        result.default_score = records[0].score
        result.seconds = time.time() - started
        if on_trial is not None:
            on_trial(records[-1], result if complete else None, options.trials)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize",
        sampler=optuna.samplers.TPESampler(seed=options.sampler_seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5) if options.prune else optuna.pruners.NopPruner(),
    )
    study.enqueue_trial(default_trial(booster, options.tune_blend))
    study.optimize(objective, n_trials=options.trials, timeout=options.timeout, callbacks=[callback],
                   catch=(DataError,))
    if not any(r.state == "complete" for r in records):
        raise DataError("no tuning trial completed; raise --tune-timeout or --tune")
    if options.guard and result.best_number != 0 and records[0].state == "complete":
        result.guard = clear_gain(
            predictions[result.best_number], predictions[0], yv[test_rows], X.index[test_rows], options
        )
        result.guard["trial"] = result.best_number
        if not result.guard["clear"]:
            result.best_number = 0
    result.seconds = time.time() - started
    result.stopped_by = "trials" if len(records) >= options.trials else "timeout"
    return result


def clear_gain(
    best: np.ndarray, default: np.ndarray, y: np.ndarray, index: pd.DatetimeIndex, options: TuneConfig
) -> dict[str, Any]:
    """Is the best trial clearly better than the defaults on the inner out-of-fold rows?

    The paired day-block bootstrap of :mod:`training.protocol` on the objective's metric: clear
    when the 90 % CI of (best - defaults) lies on the better side of zero. The best of many trials
    is picked on these same rows, so its gain is biased upward; the check can only err toward
    accepting a change, never toward keeping the defaults wrongly, and it stops the common case of
    a search that found noise.
    """
    from training.protocol import ProtocolConfig, protocol_report

    bar = pd.Timedelta(int(np.median(np.diff(index.asi8))), "ns") if len(index) > 1 else pd.Timedelta("1h")
    with np.errstate(invalid="ignore"):  # resamples without a positive give NaN, left out of the CI
        report = protocol_report(
            {"model": best, "defaults": default}, y, index, bar, 0.5,
            config=ProtocolConfig(resamples=options.guard_resamples),
        )
    d = report["differences"]["defaults"][options.objective]
    lo, hi = d["ci"]
    if lo is None or hi is None:
        clear = False
    else:
        clear = lo > 0 if options.objective == "pr_auc" else hi < 0
    return {"metric": options.objective, "difference": d["value"], "ci": [lo, hi],
            "level": report["bootstrap"]["level"], "clear": bool(clear)}


def _describe(fold: Any) -> dict[str, Any]:
    return {
        "fold": fold.number, "train_start": str(fold.train_start), "train_end": str(fold.train_end),
        "test_start": str(fold.test_start), "test_end": str(fold.test_end),
        "train_rows": len(fold.train), "test_rows": len(fold.test),
    }


__all__ = [
    "DESIGN",
    "OBJECTIVES",
    "TrialRecord",
    "TuneConfig",
    "TuningResult",
    "clear_gain",
    "search_space",
    "tune",
    "tune_walk_forward",
    "tuning_rows",
]
