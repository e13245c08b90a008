"""Batch scoring: the probability, risk level and drivers of every bar of a stored history.

This is the backtest a trader asks for ("what would the model have said, hour by hour?") and what
the radar and the backtest page plot. It is the service's own answer, not a re-implementation:
features come from :func:`features.build_features` (equal to :func:`features.features_at` on the
window ending at each bar), and probabilities, floors, risk levels, drivers and warnings from
:meth:`serving.predictor.Predictor.respond`, the code behind ``/predict``. So a scored bar says
exactly what ``/predict`` said, or would have said, with that bar as the last one.

Each symbol is read with :data:`features.MIN_WINDOW` of history before ``start`` (so the first
scored bar has its full features) and scored in chunks of :data:`CHUNK_ROWS` rows, so memory
stays bounded on long 1-minute histories. Many symbols (or ``scheduler``) run on Dask through
:func:`features.distributed.map_partitions`: one task per symbol and run of months, each with the
same exact-overlap margin, so the result equals the single-process one.

Output: one row per (symbol, bar) with ``probability``, ``risk_level``, ``drivers`` (JSON text,
the /predict drivers), ``model`` (``name:version``), ``label``, ``features_present`` and
``warnings`` (JSON list of codes); written to the scores dataset (:class:`features.scores.
ScoreStore`) and optionally to a Parquet file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from features.errors import DataError
from features.pipeline import MIN_WINDOW, build_features
from features.store import MarketStore, normalize_symbol
from serving.batch import BatchScorer

CHUNK_ROWS = 20_000
MANY_SYMBOLS = 8
"""From this many symbols on, scoring runs on Dask even without ``--scheduler``."""
OUT_COLUMNS: tuple[str, ...] = (
    "symbol", "probability", "risk_level", "drivers", "model", "label", "features_present",
    "warnings",
)


class ScoreRequest(BaseModel):
    """Everything ``flushrisk score`` needs."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path
    symbols: list[str]
    bar: str | None = None
    start: str | None = None
    end: str | None = None
    model: str | None = None
    mlflow_home: Path | None = None
    out: Path | None = None
    write_scores: bool = True
    scheduler: str | None = None
    months_per_task: int = 3


@dataclass
class ScoreOutcome:
    """Per symbol: rows scored, the model used and the scored range."""

    symbols: dict[str, dict[str, Any]]
    out: Path | None


def load_predictor(symbol: str, ref: str | None, mlflow_home: Path | None) -> Any:
    """The champion of ``symbol`` (or the model ``ref``) as the service would load it."""
    from serving.predictor import Predictor
    from training.registry import resolve_model
    from training.tracking import model_name

    model, info = resolve_model(ref or f"{normalize_symbol(symbol)}@champion", mlflow_home)
    name = model_name(str(model.metadata.get("symbol") or symbol))
    version = str(info.get("mlflow_version") or model.metadata.get("mlflow_version") or "local")
    return Predictor(model, name, version)


def score_frame(
    predictor: Any,
    frame: pd.DataFrame,
    symbol: str,
    bar: str | pd.Timedelta | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Scores of the rows of ``frame`` in [start, end] (the rows before are history only)."""
    X = build_features(frame, bar=bar)
    keep = np.ones(len(X), dtype=bool)
    if start is not None:
        keep &= X.index >= start
    if end is not None:
        keep &= X.index <= end
    X = X[keep]
    columns = [c for c in frame.columns if frame[c].notna().any()]
    scorer = BatchScorer(predictor)
    parts = []
    for lo in range(0, len(X), CHUNK_ROWS):
        chunk = X.iloc[lo : lo + CHUNK_ROWS]
        scored = scorer.score(chunk.to_numpy(dtype=np.float64, na_value=np.nan), columns)
        parts.append(scored.set_axis(chunk.index).assign(
            symbol=symbol, model=f"{predictor.name}:{predictor.version}",
            label=predictor.info.label or "",
        )[list(OUT_COLUMNS)])
    if not parts:
        return _empty()
    return pd.concat(parts)


def _empty() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="object") for c in OUT_COLUMNS})
    out["probability"] = out["probability"].astype("float64")
    out["features_present"] = out["features_present"].astype("int64")
    return out.set_axis(pd.DatetimeIndex([], tz="UTC", name="time"))


def _utc(value: str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except ValueError:
        raise DataError(f"not a date: {value!r} (examples: 2025-03-01, 2025-03-01T12:00)") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def score_symbol(
    data_dir: Path, symbol: str, bar: str, predictor: Any, start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> pd.DataFrame:
    """Read one symbol with MIN_WINDOW of history before ``start`` and score [start, end]."""
    read_from = None if start is None else start - MIN_WINDOW
    frame = MarketStore(data_dir).read(symbol, bar, read_from, end)
    if frame.empty:
        raise DataError(f"no {bar} bars for {symbol} in {data_dir} between {start} and {end}")
    return score_frame(predictor, frame, normalize_symbol(symbol), bar, start, end)


def _model_bar(predictor: Any, requested: str | None) -> str:
    from features.bars import bar_name

    trained = predictor.model.metadata.get("bar")
    if requested is None:
        return str(trained or "1h")
    if trained and pd.Timedelta(requested) != pd.Timedelta(trained):
        raise DataError(
            f"the model {predictor.name}:{predictor.version} was trained on {trained} bars, not "
            f"{requested}: its probability is about its own bar and horizon"
        )
    return bar_name(pd.Timedelta(requested))


def score_job(request: ScoreRequest) -> ScoreOutcome:
    """Score every symbol's stored history: read -> validate -> score -> write."""
    # read + validate
    start, end = _utc(request.start), _utc(request.end)
    if start is not None and end is not None and end < start:
        raise DataError(f"--end {request.end} is before --start {request.start}")
    predictors = {
        normalize_symbol(s): load_predictor(s, request.model, request.mlflow_home) for s in request.symbols
    }
    bars = {s: _model_bar(p, request.bar) for s, p in predictors.items()}
    keep = request.out is not None
    # compute + write (the scores dataset, per symbol or per task)
    distributed = request.scheduler is not None or len(predictors) >= MANY_SYMBOLS
    if distributed:
        parts = _score_distributed(request, predictors, bars, start, end, keep)
    else:
        parts = {}
        for s, predictor in predictors.items():
            scored = score_symbol(request.data_dir, s, bars[s], predictor, start, end)
            _write_scores(request, s, bars[s], scored)
            parts[s] = [(len(scored), scored, _range(scored))]
    summary = {
        s: {
            "rows": sum(n for n, _, _ in chunks),
            "bar": bars[s],
            "model": f"{predictors[s].name}:{predictors[s].version}",
            "start": min((r[0] for _, _, r in chunks if r[0]), default=None),
            "end": max((r[1] for _, _, r in chunks if r[1]), default=None),
        }
        for s, chunks in parts.items()
    }
    if request.out is not None:
        frames = [f for chunks in parts.values() for _, f, _ in chunks if f is not None]
        write_out(frames, request.out)
    return ScoreOutcome(summary, request.out)


def _range(scored: pd.DataFrame) -> tuple[str | None, str | None]:
    return (str(scored.index[0]), str(scored.index[-1])) if len(scored) else (None, None)


def _write_scores(request: ScoreRequest, symbol: str, bar: str, scored: pd.DataFrame) -> None:
    from features.scores import ScoreStore

    if request.write_scores and len(scored):
        ScoreStore(request.data_dir).write(symbol, bar, scored.drop(columns="symbol"))


def write_out(frames: list[pd.DataFrame], path: Path) -> Path:
    """All symbols' scores in one Parquet file (columns time, symbol, ...), atomically."""
    from features.atomic import atomic_path

    table = pd.concat(frames or [_empty()]).rename_axis("time").reset_index()
    table = table.sort_values(["time", "symbol"], kind="stable").reset_index(drop=True)
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
    return path


def _score_distributed(
    request: ScoreRequest, predictors: dict[str, Any], bars: dict[str, str],
    start: pd.Timestamp | None, end: pd.Timestamp | None, keep: bool,
) -> dict[str, list[tuple[int, pd.DataFrame | None, tuple[str | None, str | None]]]]:
    """Score on Dask, one task per symbol and run of months (features.distributed): each task
    reads its months plus MIN_WINDOW of history, scores its own months and writes them."""
    try:
        from features import distributed
    except ImportError:  # pragma: no cover - the runner lands with the data helper's work
        raise DataError("distributed scoring needs features.distributed, which this install lacks") from None

    out: dict[str, list] = {s: [] for s in predictors}
    by_bar: dict[str, list[str]] = {}
    for s, b in bars.items():
        by_bar.setdefault(b, []).append(s)
    for bar, symbols in by_bar.items():
        task = _ScoreTask(
            {s: predictors[s].model for s in symbols},
            {s: (predictors[s].name, predictors[s].version) for s in symbols},
            bar, start, end, request, keep,
        )
        results = distributed.map_partitions(
            task, request.data_dir, symbols, bar, margin=MIN_WINDOW,
            months_per_task=request.months_per_task, scheduler=request.scheduler,
        )
        for symbol, n, frame, span in results:
            out[symbol].append((n, frame, span))
    return out


class _ScoreTask:
    """The per-partition function: a task's frame (with its margin) -> its own months' scores."""

    def __init__(self, models: dict[str, Any], names: dict[str, tuple[str, str]], bar: str,
                 start: pd.Timestamp | None, end: pd.Timestamp | None, request: ScoreRequest,
                 keep: bool) -> None:
        self.models, self.names, self.bar = models, names, bar
        self.start, self.end, self.request, self.keep = start, end, request, keep

    def __call__(self, frame: pd.DataFrame, task: Any) -> tuple:
        from serving.predictor import Predictor

        symbol = normalize_symbol(task.symbol)
        name, version = self.names[symbol]
        predictor = Predictor(self.models[symbol], name, version)
        lo = task.start if self.start is None else max(task.start, self.start)
        hi = task.end - pd.Timedelta(1, "ns")
        hi = hi if self.end is None else min(hi, self.end)
        if frame.empty or lo > hi:
            return symbol, 0, None, (None, None)
        scored = score_frame(predictor, frame, symbol, self.bar, lo, hi)
        _write_scores(self.request, symbol, self.bar, scored)
        return symbol, len(scored), (scored if self.keep else None), _range(scored)


__all__ = ["CHUNK_ROWS", "ScoreOutcome", "ScoreRequest", "load_predictor", "score_frame", "score_job"]
