"""One model for many symbols: pooled windows, a walk-forward split by time across all of them.

A symbol-year holds only ~100-200 squeeze hours; alts flush far more often than BTC. Pooling the
labelled windows of several symbols gives the booster more positives of the same mechanism.
The features are relative (to open interest, to volume, to the symbol's own history and
volatility), so a row of SOL and a row of BTC mean the same thing to the model; the model is
never told which symbol a row belongs to, so it cannot memorise one symbol's history.

Time is the only split. The walk-forward folds are cut on the union of all symbols' bar times,
and a fold trains on every symbol's rows before its test block (purged and embargoed) and tests
on every symbol's rows inside it: no fold trains on one symbol's future while testing another's
past (a market-wide crash would otherwise leak from BTC into ETH's test).

Calibration and risk thresholds per symbol. Symbols differ in base rate, so one calibrator
would over-state risk for a calm symbol and under-state it for a jumpy one. A symbol with at
least :data:`MIN_SYMBOL_POSITIVES` out-of-fold positives gets its own calibrator (fitted on its
own out-of-fold raw predictions) and thresholds from its own base rate; the others fall back to
the pooled ones. In the walk-forward the same rule is applied fold by fold on earlier folds only,
so the reported out-of-fold probabilities never use a later fold's outcomes.

The result is one :class:`FlushModel` per symbol sharing one booster, each registered under its
symbol's name (``flushrisk-<SYMBOL>``), so serving, promotion and batch scoring work per symbol
unchanged; ``metadata["pooled"]`` says which symbols trained it and which calibration it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.errors import DataError
from features.store import MarketStore, data_versions, lineage_tags, normalize_symbol
from models.calibration import Calibrator
from models.flush_model import FlushModel, risk_thresholds
from training.fit import (
    MODEL,
    FoldResult,
    TrainConfig,
    WalkForwardResult,
    _folds,
    calibrate,
    collect_folds,
    evaluation_report,
    fit_final_model,
    fold_metrics,
    fold_threshold,
)
from training.jobs import LabelRequest
from training.walkforward import Fold, WalkForwardConfig, walk_forward_splits

MIN_SYMBOL_POSITIVES = 30
"""Out-of-fold positives a symbol needs for its own calibrator and thresholds."""


@dataclass
class PooledWindows:
    """Labelled windows of several symbols, sorted by time (ties by symbol order)."""

    X: pd.DataFrame
    y: pd.Series
    strength: pd.Series | None
    symbol: np.ndarray
    metas: dict[str, Any]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def symbols(self) -> list[str]:
        return list(self.metas)


def parse_symbols(text: str, store: MarketStore, bar: str | None) -> list[str]:
    """``BTC,ETH,SOL`` or ``all`` (every stored symbol that has the bar or a finer one)."""
    if text.strip().lower() == "all":
        found = sorted({d.symbol for d in store.datasets()})
        if not found:
            raise DataError(f"--symbols all: the store {store.root} holds no datasets")
        return found
    symbols = [normalize_symbol(s) for s in text.split(",") if s.strip()]
    if len(symbols) != len(set(symbols)):
        raise DataError(f"--symbols lists a symbol twice: {text!r}")
    if not symbols:
        raise DataError("--symbols needs at least one symbol (or 'all')")
    return symbols


def pooled_windows(
    frames: dict[str, pd.DataFrame],
    spec: Any,
    stride: str | None = None,
    with_strength: bool = True,
) -> PooledWindows:
    """Features, labels (and label strength) of every symbol's frame, pooled and time-sorted."""
    from features import labelled_windows, make_label_strength

    parts_X, parts_y, parts_s, parts_sym, metas = [], [], [], [], {}
    for symbol, frame in frames.items():
        try:
            X, y, meta = labelled_windows(frame, spec, stride=stride)
        except DataError as err:
            raise DataError(f"{symbol}: {err}") from None
        parts_X.append(X)
        parts_y.append(y)
        if with_strength:
            parts_s.append(make_label_strength(frame, spec).reindex(X.index))
        parts_sym.append(np.full(len(X), symbol, dtype=object))
        metas[symbol] = meta
    X = pd.concat(parts_X)
    order = np.argsort(X.index.as_unit("ns").asi8, kind="stable")
    X = X.iloc[order]
    y = pd.concat(parts_y).iloc[order]
    strength = pd.concat(parts_s).iloc[order] if with_strength else None
    symbol = np.concatenate(parts_sym)[order]
    return PooledWindows(X, y, strength, symbol, metas, dict(frames))


def pooled_splits(index: pd.DatetimeIndex, config: WalkForwardConfig) -> list[Fold]:
    """Walk-forward folds over rows of several symbols (repeated times), cut by time only.

    The folds of the distinct times decide everything; a fold's rows are every row whose time
    falls in its training or test span.
    """
    if not index.is_monotonic_increasing:
        raise DataError("pooled rows must be sorted by time")
    times = index.as_unit("ns").asi8
    unique = pd.DatetimeIndex(np.unique(times)).tz_localize("UTC")
    folds = []
    for fold in walk_forward_splits(unique, config):
        train_lo, train_hi = unique[fold.train[0]].value, unique[fold.train[-1]].value
        test_lo, test_hi = unique[fold.test[0]].value, unique[fold.test[-1]].value
        train = np.flatnonzero((times >= train_lo) & (times <= train_hi))
        test = np.flatnonzero((times >= test_lo) & (times <= test_hi))
        folds.append(
            Fold(fold.number, train, test, fold.train_start, fold.train_end, fold.test_start,
                 fold.test_end)
        )
    return folds


def run_pooled_walk_forward(
    pw: PooledWindows,
    bar: pd.Timedelta,
    config: TrainConfig,
    on_fold: Callable[[FoldResult, int], None] | None = None,
    label_kind: str = "liquidation",
) -> tuple[WalkForwardResult, np.ndarray]:
    """Fit and predict every pooled fold, then calibrate per symbol on earlier folds only.

    Returns the walk-forward result (model predictions per-symbol calibrated) and the symbol of
    each out-of-fold row.
    """
    from concurrent.futures import ThreadPoolExecutor

    from models.lgbm import training_target

    folds = pooled_splits(pw.X.index, config.walk_forward)
    yv = pw.y.to_numpy(dtype=np.float64)
    strength = None if pw.strength is None else pw.strength.to_numpy(dtype=np.float64)
    target = training_target(yv, strength, config.booster)
    with ThreadPoolExecutor(max_workers=1) as executor:
        results = _folds(pw.X, yv, target, bar, config, folds, executor, None, label_kind)
    _recalibrate_per_symbol(results, yv, pw.symbol, config)
    for result in results:
        result.metrics = fold_metrics(result, yv, pw.X.index[result.fold.test], bar)
        if on_fold is not None:
            on_fold(result, len(results))
    wf = collect_folds(pw.X, yv, bar, results)
    test = np.concatenate([r.fold.test for r in results])
    return wf, pw.symbol[test]


def with_pooled_alert_rule(
    wf: WalkForwardResult,
    oof_symbols: np.ndarray,
    pw: PooledWindows,
    frames: dict[str, pd.DataFrame],
    spec: Any,
) -> WalkForwardResult:
    """``wf`` with the running squeezes its model's calm alert rule is silent on, each row's on
    its own symbol: on the out-of-fold rows (``oof_symbols``), and on every pooled window the
    folds' ``train`` positions index, so each symbol's event study also gives every baseline
    the model's rule with its cut chosen on its own calm pooled training rows, as a
    single-symbol run does (:func:`training.jobs.with_alert_rule`). One label series per
    symbol serves both."""
    from features.labels import running_cascade

    wf.running = np.zeros(len(wf.index), dtype=bool)
    wf.window_running = np.zeros(len(pw.X.index), dtype=bool)
    for s in pd.unique(pw.symbol):
        if str(s) not in frames:
            continue
        running = running_cascade(frames[str(s)], spec)
        for rows, index, out in ((oof_symbols == s, wf.index, wf.running),
                                 (pw.symbol == s, pw.X.index, wf.window_running)):
            out[rows] = running.reindex(index[rows], fill_value=False).to_numpy(dtype=bool)
    return wf


def _as_rows(threshold: float | np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(threshold, dtype=np.float64), (n,)).copy()


def _recalibrate_per_symbol(
    results: list[FoldResult], yv: np.ndarray, symbol: np.ndarray, config: TrainConfig
) -> None:
    """Per fold and symbol: a calibrator of the symbol's earlier out-of-fold rows, if it has
    enough positives; and the alert threshold from the symbol's training base rate."""
    seen_raw: dict[str, list[np.ndarray]] = {}
    seen_y: dict[str, list[np.ndarray]] = {}
    for result in results:
        test, train = result.fold.test, result.fold.train
        p = result.predictions[MODEL].copy()
        thresholds = np.full(len(test), float(result.threshold))
        for s in np.unique(symbol[test]):
            rows = symbol[test] == s
            history_y = np.concatenate(seen_y.get(s, [np.zeros(0)]))
            if history_y.sum() >= MIN_SYMBOL_POSITIVES:
                calibrator = calibrate(np.concatenate(seen_raw[s]), history_y, config)
                p[rows] = calibrator(result.raw[rows])
            own_train = yv[train][symbol[train] == s]
            if own_train.sum() >= MIN_SYMBOL_POSITIVES:
                thresholds[rows] = fold_threshold(own_train, config)
            seen_raw.setdefault(s, []).append(result.raw[rows])
            seen_y.setdefault(s, []).append(yv[test][rows])
        result.predictions[MODEL] = p
        if result.seed_predictions:  # the first seed is the reported model (the others keep
            result.seed_predictions[0] = p  # the pooled calibration: they only show the spread)
        result.threshold = thresholds  # type: ignore[assignment]  # one per test row


def symbol_reports(
    wf: WalkForwardResult, symbols: np.ndarray, bar: pd.Timedelta, protocol: Any = None,
    frames: dict[str, pd.DataFrame] | None = None, spec: Any = None,
) -> dict[str, dict[str, Any]]:
    """The evaluation report of each symbol's out-of-fold rows (folds as in the pooled run).

    With ``frames`` and ``spec``, each symbol's report also carries its event study (onsets and
    continuations on that symbol's own squeezes, every predictor at the model's alert budget,
    cuts chosen on the pooled training rows) and leads with both verdict lines, as a
    single-symbol training does: the symbol's model card is what a trader reads.
    """
    from training.jobs import events_section, lead_with_onsets

    out: dict[str, dict[str, Any]] = {}
    offset = 0
    per_fold: list[tuple[FoldResult, np.ndarray]] = []
    for r in wf.folds:
        per_fold.append((r, np.arange(offset, offset + len(r.fold.test))))
        offset += len(r.fold.test)
    for s in pd.unique(symbols):
        mask = symbols == s
        folds = []
        for r, rows in per_fold:
            keep = mask[rows]
            if not keep.any():
                continue
            sub = FoldResult(
                fold=Fold(r.fold.number, r.fold.train, np.arange(int(keep.sum())), r.fold.train_start,
                          r.fold.train_end, r.fold.test_start, r.fold.test_end),
                best_iteration=r.best_iteration,
                calibration=r.calibration,
                threshold=_as_rows(r.threshold, len(rows))[keep],
                raw=r.raw[keep],
                predictions={k: v[keep] for k, v in r.predictions.items()},
                seed_predictions=[v[keep] for v in r.seed_predictions],
                train_scores=r.train_scores,
            )
            sub.metrics = fold_metrics(sub, wf.y[rows][keep], wf.index[rows][keep], bar)
            folds.append(sub)
        subset = WalkForwardResult(
            folds=folds, index=wf.index[mask], y=wf.y[mask], raw=wf.raw[mask],
            predictions={k: v[mask] for k, v in wf.predictions.items()},
            thresholds=wf.thresholds[mask], bar=bar,
            seed_predictions=[v[mask] for v in wf.seed_predictions],
            running=None if wf.running is None else wf.running[mask],
            window_running=wf.window_running,  # pooled rows: the folds' train positions
        )
        report = evaluation_report(subset, protocol)
        if frames is not None and spec is not None and str(s) in frames:
            report["events"] = events_section(subset, None, frames[str(s)], spec, protocol=protocol)
            lead_with_onsets(report)
        out[str(s)] = report
    return out


def pooled_lead_verdict(verdict: dict[str, Any], symbols: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The pooled run's verdict with its second lead line: onsets at equal alert budget, symbol
    by symbol (onsets are a symbol's own events; pooled hours of different markets have none)."""
    pr_line = str(verdict.get("pr_text") or verdict.get("text", "no verdict"))
    parts = []
    for name, rep in symbols.items():
        onsets = (rep.get("verdict") or {}).get("onsets") or {}
        if onsets.get("status") in (None, "undefined"):
            parts.append(f"{name}: no onset verdict")
            continue
        part = (f"{name} {onsets['model_hits']}/{onsets['onsets']} vs {onsets['best_baseline']} "
                f"{onsets['baseline_hits']}/{onsets['onsets']} ({onsets['status'].replace('_', ' ')})")
        same = onsets.get("same_rule") or {}
        if same.get("best_baseline"):
            part += (f", under the same calm-hour rule {same['best_baseline']} "
                     f"{same['onset_hits'][same['best_baseline']]}/{same['onsets']}")
        parts.append(part)
    line = "onsets warned at equal alert budget, per symbol: " + ("; ".join(parts) or "no symbol evaluated")
    out = dict(verdict)
    out.update(pr_text=pr_line, lines=[pr_line, line], text=f"{pr_line}\n{line}",
               onsets={"text": line, "status": "per_symbol",
                       "symbols": {n: (r.get("verdict") or {}).get("onsets") for n, r in symbols.items()}})
    return out


def symbol_models(
    pw: PooledWindows,
    wf: WalkForwardResult,
    oof_symbols: np.ndarray,
    config: TrainConfig,
    metadata: dict[str, Any],
    label_spec: dict[str, Any],
) -> dict[str, FlushModel]:
    """The deployable models: one shared booster, per-symbol calibrator and thresholds."""
    pooled = fit_final_model(pw.X, pw.y, wf, config, metadata, label_spec, strength=pw.strength)
    models: dict[str, FlushModel] = {}
    yv = pw.y.to_numpy(dtype=np.float64)
    for s in pw.symbols:
        own = oof_symbols == s
        own_y = wf.y[own]
        calibrator: Calibrator = pooled.calibrator
        calibration = "pooled"
        if own_y.sum() >= MIN_SYMBOL_POSITIVES:
            calibrator = calibrate(wf.raw[own], own_y, config)
            calibration = "symbol"
        symbol_y = yv[pw.symbol == s]
        base_rate = float(symbol_y.mean()) if len(symbol_y) else float(pooled.metadata["base_rate"])
        enough = symbol_y.sum() >= MIN_SYMBOL_POSITIVES and 0.0 < base_rate < 1.0
        thresholds = (
            risk_thresholds(base_rate, config.odds_multiples) if enough else pooled.metadata["thresholds"]
        )
        meta = {
            **pooled.metadata,
            "symbol": s,
            "base_rate": base_rate,
            "thresholds": thresholds,
            "alert_threshold": thresholds[config.alert_level],
            "rows": len(symbol_y),
            "positives": int(symbol_y.sum()),
            "data_start": str(pw.metas[s].start),
            "data_end": str(pw.metas[s].end),
            "groups": list(pw.metas[s].groups),
            "pooled": {
                "symbols": pw.symbols,
                "rows": len(yv),
                "positives": int(yv.sum()),
                "calibration": calibration,
                "thresholds": "symbol" if enough else "pooled",
            },
        }
        models[s] = FlushModel(pooled.booster, pooled.features, calibrator, label_spec, meta)
    return models


class PooledRequest(BaseModel):
    """Everything ``flushrisk train --symbols ...`` needs."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    data_dir: Path
    symbols: list[str]
    bar: str = "1h"
    start: str | None = None
    end: str | None = None
    label: LabelRequest = Field(default_factory=LabelRequest)
    config: TrainConfig = Field(default_factory=TrainConfig)
    stride: str | None = None
    mlflow_home: Path | None = None
    log_to_mlflow: bool = True
    report: Path | None = None


@dataclass
class PooledOutcome:
    """The pooled report (pooled metrics + ``symbols``: per-symbol reports) and the models."""

    report: dict[str, Any]
    models: dict[str, FlushModel]
    versions: dict[str, int | None]
    walk_forward: WalkForwardResult
    oof_symbols: np.ndarray


def pooled_train_job(
    request: PooledRequest, on_fold: Callable[[FoldResult, int], None] | None = None
) -> PooledOutcome:
    """Walk-forward train one model on every symbol's windows; register it per symbol."""
    from features.bars import parse_bar
    from training.jobs import check_trainable, write_report
    from training.metrics import json_safe

    # read
    spec = request.label.spec()
    bar = parse_bar(request.bar)
    config = request.config.model_copy(
        update={"walk_forward": request.config.walk_forward.model_copy(
            update={"horizon": pd.Timedelta(spec.horizon)})}
    )
    frames = read_frames(request.data_dir, request.symbols, request.bar, request.start, request.end)
    # near misses only for the liquidation label (see training.jobs.read_strength)
    pw = pooled_windows(frames, spec, request.stride, with_strength=spec.kind == "liquidation")
    # validate
    check_trainable(pw.y, _pooled_meta(pw), ",".join(pw.symbols))
    WalkForwardConfig.model_validate(config.walk_forward.model_dump())
    # compute
    wf, oof_symbols = run_pooled_walk_forward(pw, bar, config, on_fold, spec.kind)
    with_pooled_alert_rule(wf, oof_symbols, pw, frames, spec)
    report: dict[str, Any] = dict(evaluation_report(wf, config.protocol))
    report["symbols"] = symbol_reports(wf, oof_symbols, bar, config.protocol, frames, spec)
    report["verdict"] = pooled_lead_verdict(report["verdict"], report["symbols"])
    report["setup"] = {
        "symbols": pw.symbols,
        "pooled": True,
        "bar": request.bar,
        "label": spec.describe(),
        "label_spec": spec.to_dict(),
        "rows": len(pw.y),
        "positives": int(pw.y.sum()),
        "base_rate": float(pw.y.mean()),
        "rows_per_symbol": {s: int(m.rows) for s, m in pw.metas.items()},
        "positives_per_symbol": {s: int(m.positives) for s, m in pw.metas.items()},
        "evaluated_rows": len(wf.y),
        "evaluated_from": str(wf.index[0]),
        "evaluated_to": str(wf.index[-1]),
        "folds": len(wf.folds),
        "walk_forward": config.walk_forward.params(),
        "min_symbol_positives": MIN_SYMBOL_POSITIVES,
        "data_versions": data_versions(*frames.values()),
    }
    metadata = {
        "bar": request.bar,
        "label": spec.describe(),
        "verdict": report["verdict"]["text"],
        "metrics": {k: v for k, v in report[MODEL].items() if isinstance(v, int | float)},
    }
    models = symbol_models(pw, wf, oof_symbols, config, metadata, spec.to_dict())
    for s, model in models.items():
        model.metadata["metrics"] = {
            k: v for k, v in report["symbols"][s][MODEL].items() if isinstance(v, int | float)
        }
        model.metadata["verdict"] = report["symbols"][s]["verdict"]["text"]
        model.metadata["baseline_metrics"] = {
            name: {k: report["symbols"][s][name].get(k) for k in ("pr_auc", "brier", "ece")}
            for name in config.baselines if name in report["symbols"][s]
        }
        model.metadata["pooled"]["metrics"] = metadata["metrics"]
    # log
    versions: dict[str, int | None] = {s: None for s in models}
    if request.log_to_mlflow:
        report["mlflow"] = _log_symbols(request, pw, wf, report, models, config, spec)
        versions = {s: v["version"] for s, v in report["mlflow"].items()}
    safe = json_safe(report)
    if request.report is not None:
        write_report(safe, request.report)
    return PooledOutcome(safe, models, versions, wf, oof_symbols)


def _pooled_meta(pw: PooledWindows) -> Any:
    first = next(iter(pw.metas.values()))
    return first.model_copy(update={"start": pw.X.index[0], "end": pw.X.index[-1]})


def _log_symbols(
    request: PooledRequest, pw: PooledWindows, wf: WalkForwardResult, report: dict[str, Any],
    models: dict[str, FlushModel], config: TrainConfig, spec: Any,
) -> dict[str, dict[str, Any]]:
    """One MLflow run per symbol (its model, its metrics and the pooled ones as ``pooled_*``)."""
    from training.fit import target_name
    from training.metrics import json_safe
    from training.tracking import evaluation_digest, log_training_run

    pooled_metrics = {k: v for k, v in report[MODEL].items() if isinstance(v, int | float)}
    out: dict[str, dict[str, Any]] = {}
    for s, model in models.items():
        rows = pw.symbol == s
        X_s, y_s = pw.X[rows], pw.y[rows]
        symbol_report = {**report["symbols"][s], "pooled": pooled_metrics,
                         "setup": {**report["setup"], "symbol": s}}
        digest = evaluation_digest(X_s, y_s, {"label": spec.to_dict(), "pooled": pw.symbols,
                                              **config.walk_forward.params()})
        symbol_report["setup"]["eval_digest"] = digest
        params = {
            **config.params(),
            "training_target": target_name(config, pw.strength),
            "symbol": s,
            "pooled_symbols": ",".join(pw.symbols),
            "bar": request.bar,
            "stride": str(request.stride),
            "label": spec.describe()[:500],
            **{f"label_{k}": str(v) for k, v in spec.to_dict().items()},
            "n_features": str(len(model.features)),
            "calibration_scope": model.metadata["pooled"]["calibration"],
            "threshold_scope": model.metadata["pooled"]["thresholds"],
        }
        tags = {"eval_digest": digest, "label_kind": spec.kind, "data_dir": str(request.data_dir),
                "pooled": ",".join(pw.symbols),
                **lineage_tags(report["setup"].get("data_versions") or {})}
        run_id, version = log_training_run(
            symbol=s, bar=request.bar, home=request.mlflow_home, params=params, tags=tags,
            X=X_s, y=y_s,
            dataset_source=str(MarketStore(request.data_dir).path(s, request.bar)),
            report=json_safe(symbol_report), plots=[], model=model,
        )
        model.metadata.update(mlflow_run_id=run_id, mlflow_version=version)
        out[s] = {"run_id": run_id, "version": version}
    return out


def read_frames(data_dir: Path, symbols: Sequence[str], bar: str, start: str | None = None,
                end: str | None = None) -> dict[str, pd.DataFrame]:
    """Each symbol's canonical frame at the bar (an error names a symbol without data)."""
    store = MarketStore(data_dir)
    frames = {}
    for s in symbols:
        frame = store.read(s, bar, start, end)
        if frame.empty:
            raise DataError(f"no {bar} rows for {s} in {data_dir} between {start} and {end}")
        frames[normalize_symbol(s)] = frame
    return frames


__all__ = [
    "MIN_SYMBOL_POSITIVES",
    "PooledOutcome",
    "PooledRequest",
    "PooledWindows",
    "parse_symbols",
    "pooled_splits",
    "pooled_train_job",
    "pooled_windows",
    "read_frames",
    "run_pooled_walk_forward",
    "symbol_models",
    "symbol_reports",
]
