"""Batch scoring: the probability, risk level and drivers of every bar of a stored history.

This is the backtest a trader asks for ("what would the model have said, hour by hour?") and what
the radar and the backtest page plot. It is the service's own answer, not a re-implementation:
features come from :func:`features.build_features` (equal to :func:`features.features_at` on the
window ending at each bar), and probabilities, floors, risk levels, drivers and warnings from
:class:`serving.batch.BatchScorer`, which computes ``/predict``'s answer
(:meth:`serving.predictor.Predictor.respond`) for whole arrays of rows and equals it row for row.
So a scored bar says exactly what ``/predict`` said, or would have said, with that bar as the
last one.

Each symbol is read with :data:`features.MIN_WINDOW` of history before ``start`` (so the first
scored bar has its full features) and scored in chunks of :data:`CHUNK_ROWS` rows, so memory
stays bounded on long 1-minute histories. Many symbols (or ``scheduler``) run on Dask through
:func:`features.distributed.map_partitions`: one task per symbol and run of months, each with the
same exact-overlap margin, so the result equals the single-process one. A task carries keys
(symbol, months, data and model directories), never data or models: each worker reads its
months from the store, loads each model once, and writes its scores itself.

Drivers (tree SHAP) cost about 30x the probability, so ``drivers`` (``--drivers``) says which
bars get them: ``top`` (the default: bars at or above the alert level), ``none``, or ``all``
(every bar, /predict's answer to the bit). Probabilities are computed for every bar either way;
without drivers they come from the booster's ordinary prediction (equal to /predict's within
1e-9). The page asks for the drivers of the bars it shows (``/scores/{symbol}?drivers=1``).

Output: one row per (symbol, bar) with ``probability``, ``risk_level``, ``drivers`` (JSON text,
the /predict drivers), ``has_drivers`` (whether the drivers were computed), ``model`` (``name:version``), ``label``, ``features_present`` and
``warnings`` (JSON list of codes); written to the scores dataset (:class:`features.scores.
ScoreStore`) and optionally to a Parquet file.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from features.errors import DataError, ModelNotFoundError, UnreadableDataError
from features.pipeline import MIN_WINDOW, build_features
from features.store import MarketStore, normalize_symbol
from models import compiled
from serving.batch import BatchScorer, DriversMode

CHUNK_ROWS = 20_000
PROBABILITY_CHUNK_ROWS = 32_768
"""Rows per chunk without drivers for every row: 21 MB of rows, below glibc's largest mmap
threshold (32 MB), so each chunk reuses the last one's memory instead of page-faulting."""
TASK_ROWS = 110_000
"""Bars per task that :func:`months_per_task` aims at (a task's features: about 75 MB)."""
COMPILE_MIN_ROWS = 200_000
"""From this many bars on, a job compiles the booster to C first (models.compiled: about a
second with gcc, once per model; then its trees cost about 3.5x less than LightGBM's predict for
the quickstart's model, 1.4x less for a 29-tree one)."""
MANY_SYMBOLS = 8
"""From this many symbols on, scoring runs on Dask even without ``--scheduler``."""
OUT_COLUMNS: tuple[str, ...] = (
    "symbol", "probability", "risk_level", "drivers", "has_drivers", "model", "label",
    "features_present", "warnings",
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
    workers: int = 2
    months_per_task: int | None = None
    """Months of one symbol per Dask task; None: about :data:`TASK_ROWS` bars (12 months of
    5-minute bars, 2 of 1-minute bars), so the MIN_WINDOW of history each task re-reads and
    re-computes stays a small share."""
    drivers: DriversMode = "top"
    """Which bars get drivers (tree SHAP, most of the cost): all, top (at or above the alert
    level) or none; probabilities are computed for every bar either way."""


@dataclass
class ScoreOutcome:
    """Per symbol: rows scored, the model used and the scored range.

    ``skipped``: symbols whose stored data (market data or scores) is unreadable, with the
    one-line reason naming the damaged file; nothing was written for them.
    """

    symbols: dict[str, dict[str, Any]]
    out: Path | None
    skipped: dict[str, str] = field(default_factory=dict)
    """Symbols not scored, with the reason and the way on (no champion, damaged data)."""


def load_predictor(
    symbol: str, ref: str | None, mlflow_home: Path | None, loaded: dict[tuple, Any] | None = None
) -> Any:
    """The champion of ``symbol`` (or the model ``ref``) as the service would load it.

    ``loaded`` (a dict the caller keeps) shares one predictor among the symbols of one model
    (``--model`` for 100 symbols loads and checks the model once).
    """
    from serving.predictor import Predictor
    from training.registry import resolve_model
    from training.tracking import model_name

    loaded = {} if loaded is None else loaded
    ref = ref or f"{normalize_symbol(symbol)}@champion"
    if ("ref", ref) not in loaded:
        loaded[("ref", ref)] = resolve_model(ref, mlflow_home)
    model, info = loaded[("ref", ref)]
    name = model_name(str(model.metadata.get("symbol") or symbol))
    version = str(info.get("mlflow_version") or model.metadata.get("mlflow_version") or "local")
    if (ref, name, version) not in loaded:
        loaded[(ref, name, version)] = Predictor(model, name, version)
    return loaded[(ref, name, version)]


def score_frame(
    predictor: Any,
    frame: pd.DataFrame,
    symbol: str,
    bar: str | pd.Timedelta | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    drivers: DriversMode = "all",
) -> pd.DataFrame:
    """Scores of the rows of ``frame`` in [start, end] (the rows before are history only).

    ``drivers``: which rows get drivers (:meth:`serving.batch.BatchScorer.score`).
    """
    X = build_features(frame, bar=bar)
    lo = 0 if start is None else int(X.index.searchsorted(start, side="left"))
    hi = len(X) if end is None else int(X.index.searchsorted(end, side="right"))
    index = X.index[lo:hi]
    if len(index) >= COMPILE_MIN_ROWS:
        compiled.for_model(predictor.model, build=True)
    values = X.to_numpy(dtype=np.float64, na_value=np.nan)[lo:hi]  # column-major, no copy
    columns = [c for c in frame.columns if frame[c].notna().any()]
    scorer = BatchScorer(predictor)
    parts = []
    size = chunk_rows(drivers)
    for start_row in range(0, len(values), size):
        # each chunk copied row-major once (the booster, the linear part and the warning scan
        # read rows); chunks small enough for malloc to reuse their memory (a fresh mmap of
        # a whole task's rows cost more in page faults than the copy itself)
        rows = np.ascontiguousarray(values[start_row : start_row + size])
        parts.append(scorer.score(rows, columns, drivers))
    if not parts:
        return _empty()
    scored = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    scored.index = index
    scored.insert(0, "symbol", symbol)
    scored["model"] = f"{predictor.name}:{predictor.version}"
    scored["label"] = predictor.info.label or ""
    return scored[list(OUT_COLUMNS)]


def months_per_task(request_months: int | None, bar: str) -> int:
    """Months per task: as asked, else about :data:`TASK_ROWS` bars (1 to 12 months)."""
    if request_months is not None:
        return request_months
    per_month = pd.Timedelta(days=30.44) / pd.Timedelta(bar)
    return int(min(12, max(1, TASK_ROWS // per_month)))


def chunk_rows(drivers: DriversMode) -> int:
    """Rows scored at once: fewer when every row gets a SHAP matrix (memory stays bounded)."""
    return CHUNK_ROWS if drivers == "all" else PROBABILITY_CHUNK_ROWS


def _empty() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="object") for c in OUT_COLUMNS})
    out["probability"] = out["probability"].astype("float64")
    out["features_present"] = out["features_present"].astype("int64")
    out["has_drivers"] = out["has_drivers"].astype(bool)
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
    end: pd.Timestamp | None, drivers: DriversMode = "all",
) -> pd.DataFrame:
    """Read one symbol with MIN_WINDOW of history before ``start`` and score [start, end]."""
    read_from = None if start is None else start - MIN_WINDOW
    frame = MarketStore(data_dir).read(symbol, bar, read_from, end)
    if frame.empty:
        raise DataError(f"no {bar} bars for {symbol} in {data_dir} between {start} and {end}")
    return score_frame(predictor, frame, normalize_symbol(symbol), bar, start, end, drivers)


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


def score_job(request: ScoreRequest, client: Any | None = None) -> ScoreOutcome:
    """Score every symbol's stored history: read -> validate -> score -> write.

    ``client``: a connected ``distributed.Client`` to score on (a started cluster is reused;
    otherwise many symbols or ``request.scheduler`` start or reach one).
    """
    # read + validate
    start, end = _utc(request.start), _utc(request.end)
    if start is not None and end is not None and end < start:
        raise DataError(f"--end {request.end} is before --start {request.start}")
    loaded: dict[tuple, Any] = {}
    predictors, skipped = _predictors(request, loaded)
    bars = {s: _model_bar(p, request.bar) for s, p in predictors.items()}
    keep = request.out is not None
    # compute + write (the scores dataset, per symbol or per task); a symbol whose stored data
    # is damaged is skipped with its reason, the others go on
    distributed = client is not None or request.scheduler is not None or len(predictors) >= MANY_SYMBOLS
    if distributed:
        parts = _score_distributed(request, predictors, bars, start, end, keep, client, skipped)
    else:
        parts = {}
        for s, predictor in predictors.items():
            try:
                scored = score_symbol(
                    request.data_dir, s, bars[s], predictor, start, end, request.drivers
                )
                _write_scores(request, s, bars[s], scored)
            except UnreadableDataError as err:
                skipped[s] = str(err)
                continue
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
    return ScoreOutcome(summary, request.out, skipped)


def _predictors(request: ScoreRequest, loaded: dict[tuple, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Each symbol's predictor; a symbol without a model is skipped with the reason (the others
    are still scored). None at all is an error naming every symbol's reason."""
    from training.registry import why_no_champion

    predictors: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for s in request.symbols:
        try:
            predictors[normalize_symbol(s)] = load_predictor(s, request.model, request.mlflow_home, loaded)
        except ModelNotFoundError as err:
            why = str(err) if request.model else why_no_champion(s, request.mlflow_home, str(err))
            skipped[normalize_symbol(s)] = f"{normalize_symbol(s)}: {why}"
    if not predictors:
        raise ModelNotFoundError("nothing to score: " + "; ".join(skipped.values()))
    return predictors, skipped


def _range(scored: pd.DataFrame) -> tuple[str | None, str | None]:
    return (str(scored.index[0]), str(scored.index[-1])) if len(scored) else (None, None)


def _write_scores(request: ScoreRequest, symbol: str, bar: str, scored: pd.DataFrame) -> None:
    if request.write_scores:
        _store_scores(request.data_dir, symbol, bar, scored)


def _store_scores(
    data_dir: Path, symbol: str, bar: str, scored: pd.DataFrame, job: str | None = None
) -> None:
    from features.scores import ScoreStore

    if len(scored):
        metadata = {"source": "flushrisk score", **({"job": job} if job else {})}
        ScoreStore(data_dir).write(symbol, bar, scored.drop(columns="symbol"), metadata=metadata)


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
    start: pd.Timestamp | None, end: pd.Timestamp | None, keep: bool, client: Any | None,
    skipped: dict[str, str],
) -> dict[str, list[tuple[int, pd.DataFrame | None, tuple[str | None, str | None]]]]:
    """Score on Dask, one task per symbol and run of months (features.distributed).

    A task carries keys only (symbol, months, the data directory and a model directory): the
    worker reads its months plus MIN_WINDOW of history from the store, loads each model once
    (:func:`_worker_predictor`), scores its own months and writes them to the scores dataset.
    A task that meets a damaged file returns it instead of failing; its symbol is added to
    ``skipped`` and the scores its other tasks wrote in this job are taken back (Delta
    restore), so nothing partial stays.
    """
    from features import distributed

    out: dict[str, list] = {s: [] for s in predictors}
    by_bar: dict[str, list[str]] = {}
    job = uuid.uuid4().hex
    before = _scores_versions(request, bars, skipped)
    for s, b in bars.items():
        if s not in skipped:
            by_bar.setdefault(b, []).append(s)
    # compile each booster here once (cached on disk): the workers then load it, not build it
    for p in {id(p.model): p for p in predictors.values()}.values():
        compiled.for_model(p.model, build=True)
    with _model_directories(request, predictors) as dirs:
        for bar, symbols in by_bar.items():
            task = _ScoreTask(
                models={s: (dirs[s], predictors[s].name, predictors[s].version) for s in symbols},
                data_dir=str(request.data_dir), bar=bar, start=start, end=end,
                write_scores=request.write_scores, keep=keep, drivers=request.drivers,
                job=job,
            )
            results = distributed.map_partitions(
                task, request.data_dir, symbols, bar, margin=MIN_WINDOW,
                months_per_task=months_per_task(request.months_per_task, bar),
                scheduler=request.scheduler,
                workers=request.workers, client=client, skip_unreadable=True,
            )
            for result in results:
                if isinstance(result, distributed.Skipped):
                    skipped.setdefault(result.symbol, result.message)
                    continue
                symbol, n, frame, span = result
                out[symbol].append((n, frame, span))
    for s in skipped:
        out.pop(s, None)
        if request.write_scores and s in before:
            _take_back(request, s, bars[s], before[s], job, skipped)
    return out


def _scores_versions(
    request: ScoreRequest, bars: dict[str, str], skipped: dict[str, str]
) -> dict[str, int | None]:
    """Each symbol's scores-table version before the job (what a take-back restores)."""
    from features.partitioned import table_version
    from features.scores import ScoreStore

    versions: dict[str, int | None] = {}
    if not request.write_scores:
        return versions
    store = ScoreStore(request.data_dir)
    for s, b in bars.items():
        try:
            versions[s] = table_version(store.path(s, b))
        except UnreadableDataError as err:
            skipped[s] = str(err)
    return versions


def _take_back(
    request: ScoreRequest, symbol: str, bar: str, since: int | None, job: str,
    skipped: dict[str, str],
) -> None:
    from features.partitioned import take_back
    from features.scores import ScoreStore

    if not take_back(ScoreStore(request.data_dir).path(symbol, bar), since, job):
        skipped[symbol] += (
            "; some of its scores from this run could not be taken back (another writer "
            "committed meanwhile)"
        )


@contextmanager
def _model_directories(request: ScoreRequest, predictors: dict[str, Any]) -> Iterator[dict[str, str]]:
    """Symbol -> a directory holding its model, for workers to load from.

    A ``--model`` directory is used as it is; a registry model is saved once (per distinct
    model) into a temporary directory in the data directory, which workers on other machines
    read like the data (the store and the scores dataset skip it: it holds no bar folders), and
    removed afterwards.
    """
    if request.model is not None and Path(request.model).is_dir():
        yield {s: str(Path(request.model).resolve()) for s in predictors}
        return
    tmp = Path(tempfile.mkdtemp(prefix=".score-models-", dir=request.data_dir))
    try:
        saved: dict[int, str] = {}
        for p in predictors.values():
            if id(p.model) not in saved:
                saved[id(p.model)] = str(p.model.save(tmp / str(len(saved))))
        yield {s: saved[id(p.model)] for s, p in predictors.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_LOADED: dict[tuple[str, str, str, float], Any] = {}
"""Predictors loaded in this process (a Dask worker keeps its models between tasks)."""


def _worker_predictor(directory: str, name: str, version: str) -> Any:
    """The predictor of the model in ``directory``, loaded once per process."""
    from models import FlushModel
    from models.flush_model import BOOSTER_FILE
    from serving.predictor import Predictor

    key = (directory, name, version, (Path(directory) / BOOSTER_FILE).stat().st_mtime)
    if key not in _LOADED:
        _LOADED[key] = Predictor(FlushModel.load(directory), name, version)
    return _LOADED[key]


@dataclass(frozen=True)
class _ScoreTask:
    """The per-partition function: a task's frame (with its margin) -> its own months' scores.

    Small by design: it travels with every task, so it holds model directories, not models.
    """

    models: dict[str, tuple[str, str, str]]
    data_dir: str
    bar: str
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    write_scores: bool
    keep: bool
    drivers: DriversMode = "all"
    job: str | None = None

    def __call__(self, frame: pd.DataFrame, task: Any) -> tuple:
        symbol = normalize_symbol(task.symbol)
        predictor = _worker_predictor(*self.models[symbol])
        lo = task.start if self.start is None else max(task.start, self.start)
        hi = task.end - pd.Timedelta(1, "ns")
        hi = hi if self.end is None else min(hi, self.end)
        if frame.empty or lo > hi:
            return symbol, 0, None, (None, None)
        scored = score_frame(predictor, frame, symbol, self.bar, lo, hi, self.drivers)
        if self.write_scores:
            _store_scores(Path(self.data_dir), symbol, self.bar, scored, self.job)
        return symbol, len(scored), (scored if self.keep else None), _range(scored)


__all__ = ["CHUNK_ROWS", "ScoreOutcome", "ScoreRequest", "load_predictor", "score_frame", "score_job"]
