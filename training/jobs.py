"""The training, evaluation and promotion jobs: read -> validate -> compute -> log.

The CLI commands are thin wrappers around these functions, so everything the CLI does can be
run (and tested) from Python. Each job reads market data from the Parquet store, builds the
labelled windows with the one feature pipeline, and writes a JSON report whose keys are
``model`` and each baseline's name (``base_rate``, ``logistic``, ``rule``), plus ``setup`` and
``events``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.atomic import write_text_atomic
from features.bars import parse_bar
from features.errors import DataError
from features.labels import CALM_WINDOW, running_cascade
from features.store import MarketStore, data_versions, lineage_tags, normalize_symbol
from models.flush_model import FlushModel
from training.fit import (
    DESIGN_NOTE,
    MODEL,
    FoldResult,
    TrainConfig,
    WalkForwardResult,
    collect_folds,
    evaluation_report,
    fit_baselines_scored,
    fit_final_model,
    fold_metrics,
    run_walk_forward,
    target_name,
    with_persistence,
)
from training.metrics import HEADLINE, json_safe
from training.protocol import ProtocolConfig
from training.walkforward import WalkForwardConfig, walk_forward_splits

MIN_POSITIVES = 10


class DataRequest(BaseModel):
    """Which data: a symbol and bar of the Parquet store, optionally a time range."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path
    symbol: str
    bar: str | None = "1h"
    start: str | None = None
    end: str | None = None


class LabelRequest(BaseModel):
    """The label spec as the CLI takes it (None: the LabelSpec default)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["liquidation", "proxy"] = "liquidation"
    horizon: str = "1h"
    threshold_usd: float | None = None
    threshold_oi_fraction: float | None = None
    k_vol: float | None = None
    oi_drop_pct: float | None = None
    onset: str | None = None

    def spec(self) -> Any:
        from features import LabelSpec

        values = {
            k: v
            for k, v in self.model_dump().items()
            if v is not None and k != "kind"
        }
        try:
            return LabelSpec(kind=self.kind, **values)
        except ValueError as err:
            raise DataError(f"invalid label options: {err}") from None


class TrainRequest(BaseModel):
    """Everything ``flushrisk train`` needs."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    data: DataRequest
    label: LabelRequest = Field(default_factory=LabelRequest)
    config: TrainConfig = Field(default_factory=TrainConfig)
    stride: str | None = None
    events: Path | None = None
    event_options: Any = None
    mlflow_home: Path | None = None
    log_to_mlflow: bool = True
    report: Path | None = None
    plots_dir: Path | None = None
    tune: Any = None  # training.tuning.TuneConfig: tune the booster first (see that module)


@dataclass
class TrainOutcome:
    """What a training job produced: the report, the final model and its MLflow lineage."""

    report: dict[str, Any]
    model: FlushModel
    run_id: str | None
    version: int | None
    walk_forward: WalkForwardResult

    @property
    def metrics(self) -> dict[str, float]:
        """The model's headline out-of-sample metrics, most telling first."""
        overall = self.report[MODEL]
        return {k: overall[k] for k in HEADLINE if overall.get(k) is not None}


# -- read ------------------------------------------------------------------------------------
def read_windows(
    data: DataRequest, spec: Any, stride: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, Any]:
    """The raw frame and its labelled windows (X, y, meta)."""
    from features import labelled_windows

    frame = MarketStore(data.data_dir).read(data.symbol, data.bar, data.start, data.end)
    if frame.empty:
        raise DataError(
            f"no {data.bar} rows for {data.symbol} in {data.data_dir} between {data.start} and {data.end}"
        )
    X, y, meta = labelled_windows(frame, spec, stride=stride)
    return frame, X, y, meta


def read_strength(frame: pd.DataFrame, spec: Any, index: pd.DatetimeIndex) -> pd.Series | None:
    """Label strength of the labelled rows, for the booster's near-miss training target.

    Only for the ``liquidation`` label: the near-miss target was validated on simulated
    liquidation labels. On the price-drop ``proxy`` label (OKX hourly) it worsened calibration
    (Brier skill +0.0003 -> -0.010), so proxy models train on the hard label (``None``).
    """
    from features import make_label_strength

    if spec.kind != "liquidation":
        return None
    return make_label_strength(frame, spec).reindex(index)


def read_persistence(frame: pd.DataFrame, spec: Any, index: pd.DatetimeIndex) -> pd.Series:
    """The persistence baseline's score: the label's own quantity in the window that just ended."""
    from features.labels import last_window_strength

    return last_window_strength(frame, spec).reindex(index)


def read_events(path: Path | None) -> pd.DataFrame:
    """The public flush days: a user file, or the list shipped inside the package."""
    from training.events import load_events

    return load_events(path)


# -- validate --------------------------------------------------------------------------------
def check_trainable(y: pd.Series, meta: Any, symbol: str) -> None:
    positives = int(y.sum())
    if positives < MIN_POSITIVES:
        raise DataError(
            f"{symbol}: only {positives} positive labels in {len(y)} rows "
            f"({meta.start} .. {meta.end}) for '{meta.label_spec}'; need at least "
            f"{MIN_POSITIVES}: lower the threshold or use more data"
        )
    if positives == len(y):
        raise DataError(f"{symbol}: every row is labelled positive; raise the label threshold")


# -- compute ---------------------------------------------------------------------------------
def events_section(
    wf: WalkForwardResult, public: pd.DataFrame | None, frame: pd.DataFrame, spec: Any,
    options: Any = None, protocol: Any = None,
) -> dict[str, Any]:
    """The event study on the evaluated rows' own squeezes, every predictor at its own threshold
    for the model's alert budget (:mod:`training.budget`).

    Onset or continuation is decided on the FULL label series of the frame (without the onset
    rule), so a cascade that started before the evaluated range still counts as running.
    """
    from features import make_label_strength
    from training.events import EventOptions, event_study

    if options is None:
        from features.labels import format_duration

        options = EventOptions(onset_window=format_duration(spec.onset) if spec.onset else "6h")
    base = spec.base()
    horizon = pd.Timedelta(spec.horizon)
    running = read_running(frame, spec, wf.index, options.onset_window_)
    size = make_label_strength(frame, base).reindex(wf.index).to_numpy()
    thresholds, budget = wf.budget_thresholds()
    boot = protocol if protocol is not None else ProtocolConfig()
    result = event_study(
        wf.index, wf.predictions, wf.y, thresholds, wf.bar, horizon,
        size=size, running=running, top=options.top, min_size=options.min_size,
        onset_window=options.onset_window_, public=public, close=frame["close"],
        resamples=boot.resamples, level=boot.level, seed=boot.seed,
    )
    result["alert_budget"] = budget
    same = wf.same_rule_thresholds()
    if same is not None:
        result["same_rule"] = same_rule_section(
            event_study(wf.index, wf.predictions, wf.y, same, wf.bar, horizon, size=size,
                        running=running, top=options.top, min_size=options.min_size,
                        onset_window=options.onset_window_, resamples=boot.resamples,
                        level=boot.level, seed=boot.seed),
        )
        result["summary"] += "; " + result["same_rule"]["text"]
    return result


def same_rule_section(study: dict[str, Any]) -> dict[str, Any]:
    """Onsets each predictor warns before when it, too, alerts only in calm hours at the model's
    budget: whether the model's onset warnings come from its ranking or from the rule."""
    per = study["predictors"]
    onsets = study["onsets"]
    hits = {name: int(m["onset_hits"]) for name, m in per.items()}
    baselines = {k: v for k, v in hits.items() if k != "model" and per[k].get("alert_share")}
    best = max(baselines, key=lambda k: baselines[k]) if baselines else None
    text = "with every predictor under the same calm-hour rule: " + (
        f"model {hits.get('model', 0)}/{onsets}, best baseline {best} {baselines[best]}/{onsets}"
        if best is not None else f"model {hits.get('model', 0)}/{onsets}, no baseline alerts"
    )
    return {"onset_hits": hits, "onsets": onsets, "best_baseline": best, "text": text,
            "alert_share": {k: m.get("alert_share") for k, m in per.items()}}


def read_running(
    frame: pd.DataFrame, spec: Any, index: pd.DatetimeIndex, window: pd.Timedelta = CALM_WINDOW
) -> np.ndarray:
    """Per row of ``index``: was a squeeze of the label running (one ended within ``window``)?

    Read on the FULL frame, so a cascade that started before the evaluated range still counts
    (:func:`features.labels.running_cascade`: only label windows closed by each row are read).
    """
    running = running_cascade(frame, spec, window)
    return running.reindex(index, fill_value=False).to_numpy(dtype=bool)


def with_alert_rule(
    wf: WalkForwardResult, frame: pd.DataFrame, spec: Any, windows: pd.DatetimeIndex, calm: bool = True
) -> WalkForwardResult:
    """``wf`` with the running squeezes its model's calm alert rule is silent on, on the
    evaluated rows and on every window the folds index (``windows``: for the baselines' cuts
    under the same rule). ``calm`` False: a legacy model that alerts in every hour."""
    if calm:
        running = running_cascade(frame, spec)  # once: both indexes are rows of this frame
        wf.window_running = running.reindex(windows, fill_value=False).to_numpy(dtype=bool)
        wf.running = running.reindex(wf.index, fill_value=False).to_numpy(dtype=bool)
    return wf


def check_evaluated_positives(wf: WalkForwardResult, spec: Any, symbol: str) -> None:
    """Refuse a run whose evaluated rows hold no positive: no metric or verdict means anything."""
    if len(wf.y) and wf.y.sum() > 0:
        return
    raise DataError(
        f"{symbol}: no positive label ('{spec.describe()}') in the {len(wf.y)} evaluated rows "
        f"{wf.index[0]:%Y-%m-%d %H:%M} .. {wf.index[-1]:%Y-%m-%d %H:%M}: nothing to judge the model on; "
        "test over a period with squeezes (--min-train, --test-from, more data) or lower the threshold"
    )


def lead_with_onsets(report: dict[str, Any]) -> None:
    """Put the second lead line (onsets at equal alert budget) into the report's verdict."""
    from training.protocol import lead_verdict

    events = report.get("events") or {}
    report["verdict"] = lead_verdict(report["verdict"], events.get("equal_budget"), events.get("same_rule"))


def track_record(report: dict[str, Any]) -> dict[str, Any]:
    """What the model card (and the symbol page) shows as the model's honest record: PR-AUC with
    its CI beside the best baseline's, the verdict, the reliability diagram, the event study."""
    verdict = report.get("verdict") or {}
    model = report[MODEL]
    best = verdict.get("best_baseline")
    baselines = {
        name: {"pr_auc": m.get("pr_auc"), "pr_auc_ci": (m.get("ci") or {}).get("pr_auc"),
               "brier_skill": m.get("brier_skill"), "ece": m.get("ece")}
        for name, m in report.items()
        if name != MODEL and isinstance(m, dict) and "pr_auc" in m
    }
    events = report.get("events") or {}
    ev_model = (events.get("predictors") or {}).get(MODEL) or {}
    calibration = ((report.get("protocol") or {}).get("calibration") or {}).get(MODEL)
    return json_safe({
        "pr_auc": model.get("pr_auc"),
        "pr_auc_ci": (model.get("ci") or {}).get("pr_auc"),
        "ci_level": verdict.get("level"),
        "base_rate": model.get("base_rate"),
        "ece": model.get("ece"),
        "calibration_slope": model.get("calibration_slope"),
        "best_baseline": {"name": best, **baselines[best]} if best in baselines else None,
        "baseline_metrics": baselines,
        "verdict": verdict,
        "event_study": {
            "events": events.get("events_total"),
            "hits": (ev_model.get("onset_hits") or 0) + (ev_model.get("continuation_hits") or 0),
            "onsets": events.get("onsets"),
            "onset_hits": ev_model.get("onset_hits"),
            "continuations": events.get("continuations"),
            "continuation_hits": ev_model.get("continuation_hits"),
            "false_alarms_per_week": ev_model.get("false_alarms_per_week"),
            "false_alarms_counted_as": "alert hours with no squeeze within the label horizon",
            "alert_share": ev_model.get("alert_share"),
            # the verdict's second line: onsets warned at equal alert budget vs the best baseline
            "equal_budget": verdict.get("onsets"),
            "summary": events.get("summary"),
        } if events else None,
        "reliability": calibration,
    })


def _setup(data: DataRequest, meta: Any, spec: Any, config: TrainConfig, wf: WalkForwardResult) -> dict[str, Any]:
    return {
        "symbol": normalize_symbol(data.symbol),
        "bar": meta.bar,
        "label": spec.describe(),
        "label_spec": spec.to_dict(),
        "groups": list(meta.groups),
        "rows": int(meta.rows),
        "positives": int(meta.positives),
        "base_rate": float(meta.base_rate),
        "data_start": str(meta.start),
        "data_end": str(meta.end),
        "evaluated_rows": len(wf.y),
        "evaluated_from": str(wf.index[0]),
        "evaluated_to": str(wf.index[-1]),
        "folds": len(wf.folds),
        "fold_periods": fold_periods(wf),
        "walk_forward": config.walk_forward.params(),
        "design_note": DESIGN_NOTE,
    }


def fold_periods(wf: WalkForwardResult) -> list[dict[str, Any]]:
    """The period each fold tests (and trains on), so a report says which weeks it judged."""
    return [
        {"fold": r.fold.number, "test_from": str(r.fold.test_start), "test_to": str(r.fold.test_end),
         "test_rows": len(r.fold.test), "test_positives": int(wf.y[wf.fold_of_row == k].sum()),
         "train_from": str(r.fold.train_start), "train_to": str(r.fold.train_end)}
        for k, r in enumerate(wf.folds)
    ]


FINGERPRINT_ROWS = 200


def data_fingerprint(frame: pd.DataFrame, index: pd.DatetimeIndex) -> dict[str, float]:
    """Closes at up to 200 evenly spread training rows: enough to tell later whether other data
    is the same series (an in-sample evaluation) or another one over the same dates."""
    if "close" not in frame or not len(index):
        return {}
    picks = np.unique(np.linspace(0, len(index) - 1, min(FINGERPRINT_ROWS, len(index))).astype(int))
    close = frame["close"].reindex(index[picks])
    return {str(t): float(v) for t, v in close.items() if pd.notna(v)}


def in_sample_rows(meta: dict[str, Any], symbol: str, frame: pd.DataFrame, index: pd.DatetimeIndex) -> tuple[int, str]:
    """How many evaluated rows the model itself trained on, and why that count.

    In-sample only when the model's own training rows, from the same data, overlap the evaluated
    rows: same symbol, inside its training range, and the data's closes agree with the closes the
    model recorded at its training rows (another simulator seed over the same dates is other data).
    """
    trained = (meta.get("data_start"), meta.get("data_end"))
    if normalize_symbol(str(meta.get("symbol", ""))) != normalize_symbol(symbol) or not all(trained):
        return 0, "the model was trained on another symbol"
    t0, t1 = pd.Timestamp(trained[0]), pd.Timestamp(trained[1])
    overlap = int(((index >= t0) & (index <= t1)).sum())
    if not overlap:
        return 0, "the evaluated rows lie outside the model's training range"
    fingerprint = meta.get("data_fingerprint") or {}
    times = pd.DatetimeIndex([pd.Timestamp(t) for t in fingerprint])
    inside = times[(times >= index[0]) & (times <= index[-1])] if len(times) else times
    if not len(inside):
        return overlap, "dates inside the model's training range (the data could not be compared)"
    recorded = np.array([fingerprint[str(t)] for t in inside])
    here = frame["close"].reindex(inside).to_numpy(dtype=np.float64)
    if np.allclose(here, recorded, rtol=1e-9, atol=0, equal_nan=False):
        return overlap, "the model trained on these rows of this data"
    return 0, "dates overlap the model's training range, but the data differ (another series)"


def _plots(
    wf: WalkForwardResult, report: dict[str, Any], model: FlushModel, events: pd.DataFrame | None, out: Path
) -> list[Path]:
    from training import plots

    covered = []
    if events is not None:
        covered = [d for d in events["date"] if wf.index[0] <= d <= wf.index[-1]]  # inside the data only
    return [
        plots.pr_curves(wf.y, wf.predictions, out / "pr_curves.png"),
        plots.reliability(
            wf.y, wf.predictions[MODEL], out / "reliability.png",
            calibration=((report.get("protocol") or {}).get("calibration") or {}).get(MODEL),
        ),
        plots.feature_importance(model.booster, out / "feature_importance.png"),
        plots.timeline(wf.index, wf.predictions[MODEL], wf.y, wf.thresholds, out / "timeline.png", covered),
        plots.fold_metrics({k: v for k, v in report.items() if k in wf.predictions}, out / "fold_metrics.png"),
    ]


def train_job(
    request: TrainRequest,
    on_fold: Callable[[FoldResult, int], None] | None = None,
    on_trial: Callable[..., None] | None = None,
) -> TrainOutcome:
    """Walk-forward train and evaluate, fit the final model, log and register it in MLflow.

    With ``request.tune`` the booster is first tuned on the first outer fold's training rows
    only (:mod:`training.tuning`); ``on_trial`` reports each trial.
    """
    from training.tracking import evaluation_digest, log_training_run, tracking_uri

    started_ms = int(time.time() * 1000)  # the MLflow run covers the whole training
    # read
    spec = request.label.spec()
    bar = parse_bar(request.data.bar or "1h")
    config = request.config.model_copy(
        update={"walk_forward": request.config.walk_forward.model_copy(update={"horizon": pd.Timedelta(spec.horizon)})}
    )
    frame, X, y, meta = read_windows(request.data, spec, request.stride)
    strength = read_strength(frame, spec, X.index)
    events = read_events(request.events)
    # validate
    check_trainable(y, meta, request.data.symbol)
    WalkForwardConfig.model_validate(config.walk_forward.model_dump())  # purge >= new horizon
    # compute
    persistence = read_persistence(frame, spec, X.index)
    tuning = None
    if request.tune is not None:
        from training.tuning import tune_walk_forward

        tuning = tune_walk_forward(X, y, config, strength, request.tune, on_trial)
        config = tuning.apply(config)
    wf = run_walk_forward(
        X, y, bar, config, on_fold, strength=strength, label_kind=spec.kind, persistence=persistence
    )
    with_alert_rule(wf, frame, spec, X.index)
    check_evaluated_positives(wf, spec, request.data.symbol)
    report: dict[str, Any] = dict(evaluation_report(wf, config.protocol))
    report["setup"] = _setup(request.data, meta, spec, config, wf)
    report["events"] = events_section(wf, events, frame, spec, request.event_options, config.protocol)
    lead_with_onsets(report)
    if tuning is not None:
        report["tuning"] = tuning.to_dict()
    metadata = {
        "symbol": normalize_symbol(request.data.symbol),
        "bar": meta.bar,
        "data_start": str(meta.start),
        "data_end": str(meta.end),
        "groups": list(meta.groups),
        "label": spec.describe(),
        "data_fingerprint": data_fingerprint(frame, X.index),
        "data_versions": data_versions(frame),
        "verdict": report["verdict"]["text"],
        "track_record": track_record(report),
        "metrics": {k: v for k, v in report[MODEL].items() if k not in ("folds", "ci")},
        "baseline_metrics": {
            name: {k: report[name][k] for k in ("pr_auc", "brier", "ece")} for name in config.baselines
        },
    }
    if tuning is not None:
        metadata["tuning"] = {"design": tuning.design, "params": tuning.best.params, "blend": tuning.best.blend}
    model = fit_final_model(X, y, wf, config, metadata, spec.to_dict(), strength=strength)
    setup_digest = {"label": spec.to_dict(), **config.walk_forward.params()}
    digest = evaluation_digest(X, y, setup_digest)
    report["setup"]["eval_digest"] = digest
    # log
    run_id = version = None
    with tempfile.TemporaryDirectory() as tmp:
        plot_dir = request.plots_dir or Path(tmp) / "plots"
        plots = _plots(wf, report, model, events, plot_dir)
        if request.log_to_mlflow:
            params = {
                **config.params(),
                "training_target": target_name(config, strength),
                "symbol": normalize_symbol(request.data.symbol),
                "bar": meta.bar,
                "stride": str(request.stride),
                "label": spec.describe()[:500],
                **{f"label_{k}": str(v) for k, v in spec.to_dict().items()},
                "n_features": str(len(model.features)),
                "groups": ",".join(meta.groups),
                "data_start": str(meta.start),
                "data_end": str(meta.end),
                **(request.tune.params() if tuning is not None else {"tune_trials": "0"}),
            }
            tags = {"eval_digest": digest, "label_kind": spec.kind, "data_dir": str(request.data.data_dir),
                    **lineage_tags(data_versions(frame))}
            run_id, version = log_training_run(
                symbol=request.data.symbol,
                bar=meta.bar,
                home=request.mlflow_home,
                params=params,
                tags=tags,
                X=X,
                y=y,
                dataset_source=str(MarketStore(request.data.data_dir).path(request.data.symbol, meta.bar)),
                report=json_safe(report),
                plots=plots,
                model=model,
                tuning=report.get("tuning"),
                started_ms=started_ms,
            )
            model.metadata.update(mlflow_run_id=run_id, mlflow_version=version)
            report["mlflow"] = {
                "run_id": run_id,
                "version": version,
                "tracking_uri": tracking_uri(request.mlflow_home),
            }
    safe = json_safe(report)
    if request.report is not None:
        write_report(safe, request.report)
    return TrainOutcome(report=safe, model=model, run_id=run_id, version=version, walk_forward=wf)


def train(
    data_dir: Path | str,
    symbol: str,
    bar: str = "1h",
    home: Path | str | None = None,
    label: LabelRequest | None = None,
    config: TrainConfig | None = None,
    report: Path | None = None,
) -> TrainOutcome:
    """Train with the defaults (the quickstart's call): walk-forward, MLflow, registered."""
    request = TrainRequest(
        data=DataRequest(data_dir=Path(data_dir), symbol=symbol, bar=bar),
        label=label or LabelRequest(),
        config=config or TrainConfig(),
        mlflow_home=Path(home) if home is not None else None,
        report=report,
    )
    return train_job(request)


def write_report(report: dict[str, Any], path: Path) -> Path:
    """Write the JSON report atomically."""
    return write_text_atomic(path, json.dumps(report, indent=1, default=str))


def evaluate_job(
    ref: str,
    data: DataRequest,
    config: TrainConfig | None = None,
    events_path: Path | None = None,
    mlflow_home: Path | None = None,
    report_path: Path | None = None,
    on_fold: Callable[[FoldResult, int], None] | None = None,
) -> dict[str, Any]:
    """Score an existing model on other data, beside baselines walk-forward-fitted on that data.

    The model is scored on the same test rows as the baselines, so the table compares like
    with like. Rows inside the model's own training range are flagged in ``setup.in_sample``.
    """
    from features import LabelSpec
    from training.registry import resolve_model

    # read
    model, source = resolve_model(ref, mlflow_home)
    spec = LabelSpec.model_validate(model.label_spec)
    bar_name_ = data.bar or str(model.metadata.get("bar") or "1h")
    data = data.model_copy(update={"bar": bar_name_})
    config = config or TrainConfig()
    config = config.model_copy(
        update={"walk_forward": config.walk_forward.model_copy(update={"horizon": pd.Timedelta(spec.horizon)})}
    )
    frame, X, y, meta = read_windows(data, spec)
    events = read_events(events_path)
    # validate
    missing = [f for f in model.features if f not in X.columns]
    if missing:
        raise DataError(f"the model needs features the pipeline no longer makes: {missing[:10]}")
    if y.sum() == 0:
        raise DataError(
            f"{data.symbol}: no positive label ('{spec.describe()}') in {meta.start} .. {meta.end}: "
            "nothing to judge the model on; use a period with squeezes"
        )
    # compute
    bar = parse_bar(bar_name_)
    folds = walk_forward_splits(X.index, config.walk_forward)
    yv = y.to_numpy(np.float64)
    p_all = model.predict_proba(X)
    X_base = with_persistence(X, read_persistence(frame, spec, X.index))
    results: list[FoldResult] = []
    for fold in folds:
        y_train, X_test = yv[fold.train], X.iloc[fold.test]
        predictions, train_scores = fit_baselines_scored(
            config.baselines, X_base.iloc[fold.train], y_train, X_base.iloc[fold.test], spec.kind
        )
        predictions = {MODEL: p_all[fold.test], **predictions}
        # best_iteration 0: the model is scored as it is, not refitted (no rounds chosen here)
        result = FoldResult(fold, 0, model.calibrator.method, model.alert_threshold, model.predict_raw(X_test),
                            predictions, train_scores=train_scores)
        result.metrics = fold_metrics(result, yv, X_test.index, bar)
        results.append(result)
        if on_fold is not None:
            on_fold(result, len(folds))
    wf = with_alert_rule(collect_folds(X, yv, bar, results), frame, spec, X.index, model.calm_window is not None)
    check_evaluated_positives(wf, spec, data.symbol)
    report: dict[str, Any] = dict(evaluation_report(wf, config.protocol))
    setup = _setup(data, meta, spec, config, wf)
    in_sample, why = in_sample_rows(model.metadata, data.symbol, frame, wf.index)
    setup.update(model=source, model_symbol=model.metadata.get("symbol"), in_sample=in_sample,
                 in_sample_reason=why)
    report["setup"] = setup
    report["events"] = events_section(wf, events, frame, spec, protocol=config.protocol)
    lead_with_onsets(report)
    safe = json_safe(report)
    # log
    if report_path is not None:
        write_report(safe, report_path)
    return safe


def promote_job(
    symbol: str,
    version: int | None = None,
    force: bool = False,
    mlflow_home: Path | None = None,
    data_dir: Path | None = None,
    eval_from: str | None = None,
    bentoml_home: Path | None = None,
) -> Any:
    """Promote a version to champion per the promotion rule and export it (see training.registry)."""
    from training.registry import promote

    return promote(symbol, version, force, mlflow_home, data_dir, eval_from, bentoml_home)


__all__ = [
    "DataRequest",
    "LabelRequest",
    "TrainOutcome",
    "TrainRequest",
    "evaluate_job",
    "events_section",
    "promote_job",
    "read_persistence",
    "read_running",
    "same_rule_section",
    "track_record",
    "train",
    "train_job",
    "with_alert_rule",
    "write_report",
]
