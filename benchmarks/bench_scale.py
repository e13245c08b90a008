"""Scale: appends to a big store, and feature building and batch scoring over many symbols on Dask.

Sections (each a function; ``main`` runs the ones asked for):

- ``append``: the cost of appending one 1-minute bar to a dataset holding 1 day and one
  holding 1 year of simulated 1-minute bars. Target: year <= 2x day (a merge rewrites only the
  month it touches).
- ``features``: features of N simulated symbols x D days of 5-minute bars, in one process and
  on a 2-worker LocalCluster, in the same run, through the same code
  (``features.distributed.build_features_partitioned``). Targets for 100 x 365: Dask >= 1.6x
  faster than one process, < 30 s, peak memory < 4 GB. Peak memory is the largest sum of the
  resident memory of this process and all its children (the Dask workers), sampled every 50 ms.
- ``scoring``: ``flushrisk score``'s job (training.score) over the same N x D universe, every
  bar (features, probability, risk level, warnings; drivers as ``--drivers`` says, default
  none), written to the scores dataset, in one process and on a 2-worker LocalCluster, same
  run; first the probability step alone (features given) against LightGBM's own ``predict`` on
  the same rows. Targets: probability step >= 1,000,000 bars per CPU second and within 2x of
  ``predict``; 100 symbol-years on 2 Dask workers <= 30 s; Dask >= 1.6x; peak memory < 4 GB.
  The model is trained first on ``--train-days`` of simulated 5-minute bars (the quickstart's
  defaults; its tree count is printed).
- ``pooled``: pooled against per-symbol models (benchmarks/scale_model.py).

Each target line says PASS or FAIL. Speed-ups need the cores to be free: the first line prints
the machine's load, and a ratio measured on a busy machine understates the cluster.

The N symbols are derived from a few simulated markets (``--base``, default 4): each symbol is
one base market with its prices and USD amounts scaled and its rows rotated in time, so that
the universe has N distinct histories without simulating every one (the simulator makes about
one symbol-year of 5-minute bars per 10 s). Data generation is not timed.

Usage:
    python benchmarks/bench_scale.py                       # every section, full size
    python benchmarks/bench_scale.py --symbols 10 --days 60 --append-days 30   # quick
    python benchmarks/bench_scale.py --only append
    python benchmarks/bench_scale.py --only features --only scoring --symbols 20 --days 90
    python benchmarks/bench_scale.py --only scoring --symbols 100 --days 365   # backtest targets
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.distributed import (
    LOCAL_PROCESS,
    build_features_partitioned,
    dask_client,
)
from features.schema import COLUMNS, PRICE_COLUMNS
from features.sources.simulator import simulate
from features.store import MarketStore

USD_COLUMNS = tuple(c for c in COLUMNS if c.endswith("_usd"))


# -- measuring ----------------------------------------------------------------------------------
class PeakMemory:
    """Peak resident memory of this process plus all its descendants, sampled in a thread.

    Also the CPU seconds they used (``cpu``): on a shared machine the wall time depends on the
    load, the CPU time much less.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._cpu: dict[int, float] = {}
        self._cpu_start: dict[int, float] = {}
        self._stop = threading.Event()

    def _total(self) -> int:
        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
                times = proc.cpu_times()
                self._cpu[proc.pid] = times.user + times.system
            except psutil.Error:
                pass
        return total

    @property
    def cpu(self) -> float:
        return sum(v - self._cpu_start.get(pid, 0.0) for pid, v in self._cpu.items())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._total())
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self.peak = self._total()
        self._cpu_start = dict(self._cpu)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._total())


@contextmanager
def scratch_dir(prefix: str):
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def gb(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GB"


# -- append ---------------------------------------------------------------------------------------
def append_cost(days_big: float = 365, repeats: int = 15) -> dict[str, float]:
    """Median seconds to append one 1-minute bar to a 1-day and to a ``days_big`` dataset."""
    print(f"\n== append: one 1-minute bar onto 1 day and {days_big:g} days of 1-minute bars ==")
    started = time.perf_counter()
    history = simulate("BTC", days=days_big + 62, bar="1m", seed=11)
    print(f"simulated {len(history):,} bars in {time.perf_counter() - started:.1f}s (not timed)")
    # Both datasets end on the 29th of a month, so the appended bars land in a month partition
    # that already holds 29 days (the worst case: a month almost full), not in a new month.
    month = (history.index[0] + pd.Timedelta(days=days_big + 31)).tz_localize(None).to_period("M")
    end = history.index.searchsorted(month.start_time.tz_localize("UTC") + pd.Timedelta(days=29))
    results = {}
    with scratch_dir("bench-append-") as root:
        for label, rows in (("1 day", 1440), (f"{days_big:g} days", int(days_big * 1440))):
            store = MarketStore(root / label.replace(" ", "_"))
            store.write("BTC", history.iloc[end - rows : end], source="bench")
            times = []
            for k in range(repeats):
                bar = history.iloc[end + k : end + k + 1]
                t = time.perf_counter()
                store.write("BTC", bar, source="bench", bar="1m")
                times.append(time.perf_counter() - t)
            assert len(store.read("BTC", start=history.index[end - 5])) == 5 + repeats
            results[label] = statistics.median(times)
            print(f"append to {label:>9} ({rows:>7,} rows; the month appended to holds "
                  f"{min(rows // 1440, 29):>2} days): median {results[label] * 1e3:7.1f} ms "
                  f"over {repeats} appends")
    day, year = results["1 day"], results[f"{days_big:g} days"]
    ratio = year / day
    print(f"ratio {days_big:g} days / 1 day: {ratio:.2f}x (target <= 2x): "
          f"{'OK' if ratio <= 2 else 'MISSED'}")
    return {"append_day_s": day, "append_big_s": year, "append_ratio": ratio}


# -- features -------------------------------------------------------------------------------------
def derive_symbols(base: pd.DataFrame, count: int, seed: int) -> list[tuple[str, pd.DataFrame]]:
    """``count`` distinct histories from one market: scaled prices and sizes, rotated rows."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        frame = base.copy()
        shift = int(rng.integers(0, len(frame)))
        frame[:] = np.roll(frame.to_numpy(), shift, axis=0)
        prices = [c for c in (*PRICE_COLUMNS, "index_price", "mark_price") if c in frame]
        frame[prices] *= float(rng.uniform(0.01, 100))
        sizes = [c for c in USD_COLUMNS if c in frame]
        frame[sizes] *= float(rng.uniform(0.05, 2))
        out.append((f"S{seed:02d}X{i:03d}", frame))
    return out


def _generate(args: tuple[str, int, int, float]) -> int:
    """One base market and its derived symbols, written to the store (runs in a pool worker)."""
    root, seed, count, days = args
    base = simulate("ALT", days=days, bar="5m", seed=seed)
    store = MarketStore(root)
    rows = 0
    for name, frame in derive_symbols(base, count, seed):
        store.write(name, frame, source="bench")
        rows += len(frame)
    return rows


def make_universe(root: Path, symbols: int, days: float, bases: int) -> int:
    counts = [symbols // bases + (1 if i < symbols % bases else 0) for i in range(bases)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        jobs = [(str(root), seed, n, days) for seed, n in enumerate(counts) if n]
        return sum(pool.map(_generate, jobs))


class Universe:
    """N derived symbols x D days of 5-minute bars in a scratch store, generated on first use
    and shared by the sections of one run (generation is not timed)."""

    def __init__(self, root: Path, symbols: int, days: float, bases: int) -> None:
        self.root, self.symbols, self.days, self.bases = root, symbols, days, min(bases, symbols)
        self.rows = 0

    @property
    def data(self) -> Path:
        if not self.rows:
            started = time.perf_counter()
            self.rows = make_universe(self.root / "data", self.symbols, self.days, self.bases)
            print(f"generated {self.rows:,} rows ({self.symbols} symbols x {self.days:g} days from "
                  f"{self.bases} simulated markets) in {time.perf_counter() - started:.1f}s (not timed)")
        return self.root / "data"

    @property
    def names(self) -> list[str]:
        return [d.symbol for d in MarketStore(self.data).datasets()]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def feature_building(universe: Universe) -> dict[str, float]:
    """One process against a 2-worker LocalCluster, same code, same data, same run."""
    symbols, days = universe.symbols, universe.days
    print(f"\n== features: {symbols} symbols x {days:g} days of 5-minute bars ==")
    results: dict[str, float] = {}
    root = universe.root
    data, names, rows = universe.data, universe.names, universe.rows
    gc.collect()
    out = root / "single"
    with PeakMemory() as memory:
        t = time.perf_counter()
        built = build_features_partitioned(data, names, "5m", out, scheduler=LOCAL_PROCESS)
        single = time.perf_counter() - t
    _report("1 process", single, memory, built, rows)
    results.update({"single_s": single, "single_peak": memory.peak})
    shutil.rmtree(out)
    with PeakMemory() as memory:
        t = time.perf_counter()
        with dask_client(None, workers=2) as client:
            started = time.perf_counter() - t
            t = time.perf_counter()
            built = build_features_partitioned(data, names, "5m", root / "dask", client=client)
            dask = time.perf_counter() - t
    print(f"LocalCluster of 2 workers started in {started:.1f}s (not in the time below)")
    _report("Dask 2 workers", dask, memory, built, rows)
    results.update({"dask_s": dask, "dask_peak": memory.peak, "dask_start_s": started})
    shutil.rmtree(root / "dask")
    speedup = single / dask
    print(f"features speed-up of Dask on 2 workers: {speedup:.2f}x (target >= 1.6x): "
          f"{verdict(speedup >= 1.6)}; with the cluster start {single / (dask + started):.2f}x")
    if symbols >= 100 and days >= 365:
        print(f"features Dask time {dask:.1f} s (target < 30 s): {verdict(dask < 30)}")
    peak = max(results["single_peak"], results["dask_peak"])
    print(f"features peak memory {gb(peak)} (target < 4 GB): {verdict(peak < 4 * 2**30)}")
    results["speedup"] = speedup
    return results


def _report(label: str, seconds: float, memory: PeakMemory, built: list, rows: int) -> None:
    written = sum(b.rows for b in built)
    assert written == rows, f"{label}: {written} rows of features for {rows} bars"
    print(f"{label:>15}: {seconds:6.1f} s wall, {seconds / rows * 1e6:5.2f} s per million rows, "
          f"{rows / seconds:,.0f} rows/s; CPU {memory.cpu:.1f} s "
          f"({memory.cpu / rows * 1e6:.2f} CPU s per million rows); peak memory {gb(memory.peak)}")


# -- scoring --------------------------------------------------------------------------------------
def train_model(days: float, out: Path) -> Path:
    """A real model on simulated 5-minute bars (quality is not the point: its trees are the cost)."""
    from features import LabelSpec, labelled_windows
    from training.fit import TrainConfig, fit_final_model, run_walk_forward
    from training.walkforward import WalkForwardConfig

    frame = simulate("ALT", days=days, bar="5m", seed=99)
    X, y, meta = labelled_windows(frame, LabelSpec())
    config = TrainConfig(walk_forward=WalkForwardConfig(n_folds=3), seeds=1, baselines=("base_rate",))
    wf = run_walk_forward(X, y, pd.Timedelta("5m"), config)
    model = fit_final_model(X, y, wf, config, {"symbol": "ALT", "bar": meta.bar}, meta.label_spec)
    return model.save(out)


def quickstart_model(out: Path, given: Path | None = None) -> Path:
    """The quickstart's model: its own steps (a year of simulated hourly BTC, seed 7, then its
    training call with MLflow in a scratch home, a few minutes), or the model directory
    ``given`` (a quickstart home's ``mlflow/artifacts/<run>/artifacts/flush_model``)."""
    if given is not None:
        return given
    from training.cli.quickstart import QuickstartPaths, quickstart_label, simulate_step
    from training.jobs import train

    started = time.perf_counter()
    paths = QuickstartPaths.from_home(out / "home")
    simulate_step("BTC", 365, 7, paths.data_dir)
    outcome = train(data_dir=paths.data_dir, symbol="BTC", bar="1h", home=paths.mlflow_home,
                    label=quickstart_label("BTC"))
    print(f"quickstart model trained by the quickstart's own steps in "
          f"{time.perf_counter() - started:.0f}s (not timed)")
    return outcome.model.save(out / "model")


def scoring(universe: Universe, train_days: float = 90, drivers: str = "none",
            quickstart: Path | None = None) -> dict[str, float]:
    """flushrisk score's job (training.score) in one process against a 2-worker LocalCluster:
    every bar of every symbol, features + probability + risk level + warnings (+ drivers as
    ``drivers`` says), written to the scores dataset, same code, same data, same run; and first
    the probability step alone against its ceiling, LightGBM's own ``predict`` on the same rows."""
    from models import FlushModel
    from training.score import ScoreRequest, score_job

    symbols, days = universe.symbols, universe.days
    print(f"\n== scoring: {symbols} symbols x {days:g} days of 5-minute bars, every bar, "
          f"drivers {drivers} ==")
    data, names, rows = universe.data, universe.names, universe.rows
    started = time.perf_counter()
    model_dir = train_model(train_days, universe.root / "model")
    booster = FlushModel.load(model_dir).booster
    print(f"model: {booster.num_trees()} trees of at most {booster.params.get('num_leaves', '?')} "
          f"leaves, trained on {train_days:g} simulated days in {time.perf_counter() - started:.1f}s "
          "(not timed)")
    features = feature_rows(data, names)
    results: dict[str, float] = dict(probability_step(FlushModel.load(model_dir), features, "bench"))
    qs = FlushModel.load(quickstart_model(universe.root / "quickstart", quickstart))
    step = probability_step(qs, features, "quickstart", target=True)
    del features
    results.update({f"quickstart_{k}": v for k, v in step.items()})
    request = ScoreRequest(data_dir=data, symbols=names, model=str(model_dir),
                           write_scores=True, scheduler=LOCAL_PROCESS, drivers=drivers)
    for label in ("1 process", "Dask 2 workers"):
        shutil.rmtree(data / "_scores", ignore_errors=True)
        gc.collect()
        if label == "1 process":
            with PeakMemory() as memory:
                t = time.perf_counter()
                outcome = score_job(request)
                seconds = time.perf_counter() - t
        else:
            t = time.perf_counter()
            with dask_client(None, workers=2) as client:
                print(f"LocalCluster of 2 workers started in {time.perf_counter() - t:.1f}s (not "
                      "in the time below; its workers' memory and CPU are)")
                with PeakMemory() as memory:
                    t = time.perf_counter()
                    outcome = score_job(request.model_copy(update={"scheduler": None}), client=client)
                    seconds = time.perf_counter() - t
        scored = sum(s["rows"] for s in outcome.symbols.values())
        assert scored == rows, f"{label}: {scored} scored bars of {rows}"
        print(f"{label:>15}: {seconds:6.1f} s wall, {rows / seconds:,.0f} bars/s, "
              f"{seconds / rows * 1e6:5.1f} s per million bars; CPU {memory.cpu:.1f} s "
              f"({rows / max(memory.cpu, 1e-9):,.0f} bars per CPU second, features and writing "
              f"included); peak memory {gb(memory.peak)}; {load()}")
        key = "single" if label == "1 process" else "dask"
        results.update({f"{key}_s": seconds, f"{key}_peak": memory.peak, f"{key}_cpu": memory.cpu})
    shutil.rmtree(data / "_scores", ignore_errors=True)
    speedup = results["single_s"] / results["dask_s"]
    peak = max(results["single_peak"], results["dask_peak"])
    print(f"scoring speed-up of Dask on 2 workers: {speedup:.2f}x (target >= 1.6x): "
          f"{verdict(speedup >= 1.6)}")
    years = symbols * days / 365
    budget = 30 * years / 100
    print(f"scoring {years:g} symbol-years on 2 Dask workers: {results['dask_s']:.1f} s (target "
          f"<= 30 s per 100 symbol-years, here {budget:.1f} s): "
          f"{verdict(results['dask_s'] <= budget)}; {load()}")
    print(f"scoring peak memory {gb(peak)} (target < 4 GB): {verdict(peak < 4 * 2**30)}")
    results["speedup"] = speedup
    return results


def load() -> str:
    one, five, _ = psutil.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def feature_rows(data: Path, names: list[str], max_rows: int = 500_000) -> tuple[np.ndarray, list[str]]:
    """The features of the first symbols (up to ``max_rows``, in time order per symbol, as a
    backtest scores them) and the bar columns they were built from."""
    from features import build_features

    store = MarketStore(data)
    parts, columns, have = [], [], 0
    for name in names:
        frame = store.read(name, "5m")
        columns = [c for c in frame.columns if frame[c].notna().any()]
        parts.append(build_features(frame, bar="5m").to_numpy(np.float64))
        have += len(parts[-1])
        if have >= max_rows:
            break
    return np.ascontiguousarray(np.vstack(parts)[:max_rows]), columns


def probability_step(
    model, feature_rows: tuple[np.ndarray, list[str]], label: str, target: bool = False
) -> dict[str, float]:
    """The probability step alone (features given) against its ceiling, in CPU seconds.

    Each figure is the best of 3 runs (a shared machine only ever slows a run down).
    BatchScorer with drivers none (probability, floors, risk level, warnings, features present;
    the booster compiled to C by models.compiled, built first and not timed) against
    LightGBM's ``predict`` alone (one thread) on the same rows: within 2x, and for the
    quickstart's model (``target``) >= 1,000,000 bars per CPU second. Tree SHAP (every bar's
    drivers) is printed beside them.
    """
    from models import compiled
    from serving.batch import BatchScorer
    from serving.predictor import Predictor
    from training.score import chunk_rows

    rows, columns = feature_rows
    t = time.perf_counter()
    trees = compiled.for_model(model, build=True)
    built = time.perf_counter() - t
    predictor = Predictor(model, "bench", "local")
    scorer = BatchScorer(predictor)

    def cpu(fn: Callable[[], object], repeats: int = 3) -> float:
        best = float("inf")
        for _ in range(repeats):
            t = time.process_time()
            fn()
            best = min(best, time.process_time() - t)
        return best

    def chunks(mode: str, n: int) -> None:  # as training.score.score_frame does
        size = chunk_rows(mode)
        for lo in range(0, n, size):
            scorer.score(rows[lo : min(lo + size, n)], columns, mode)

    n = len(rows)
    print(f"\nprobability step, {label} model: {model.booster.num_trees()} trees of at most "
          f"{model.booster.params.get('num_leaves', '?')} leaves, blend {model.blend:g}; "
          f"compiled trees: {f'built and checked in {built:.1f}s (not timed)' if trees else 'unavailable'}")
    ceiling = cpu(lambda: model.booster.predict(rows, num_threads=1))
    alone = cpu(lambda: trees.predict(rows)) if trees is not None else float("nan")
    none = cpu(lambda: chunks("none", n))
    top = cpu(lambda: chunks("top", n), repeats=1)
    shap_n = min(n, 20_000)
    shap = cpu(lambda: chunks("all", shap_n), repeats=1)
    rate, ceiling_rate = n / none, n / ceiling
    print(f"on {n:,} feature rows (features given), CPU seconds, best of 3; {load()}:")
    print(f"  LightGBM predict alone (ceiling): {ceiling_rate:>12,.0f} bars per CPU second")
    print(f"  compiled trees alone:             {n / alone:>12,.0f} bars per CPU second")
    print(f"  drivers none:                     {rate:>12,.0f} bars per CPU second "
          f"({none / ceiling:.2f}x the ceiling's CPU)")
    print(f"  drivers top:                      {n / top:>12,.0f} bars per CPU second")
    print(f"  drivers all (tree SHAP, {shap_n:,} rows): {shap_n / shap:>8,.0f} bars per CPU second")
    verdicts = f"within 2x of LightGBM predict: {verdict(none <= 2 * ceiling)} ({none / ceiling:.2f}x)"
    if target:
        verdicts = (f"probability step >= 1,000,000 bars per CPU second: {verdict(rate >= 1e6)} "
                    f"({rate:,.0f}); " + verdicts)
    print(f"{label} model: {verdicts}; {load()}")
    return {"step_rate": rate, "step_ratio": none / ceiling, "ceiling_rate": ceiling_rate,
            "trees": model.booster.num_trees()}


SECTIONS: dict[str, Callable[[argparse.Namespace, Universe], object]] = {
    "append": lambda a, u: append_cost(a.append_days),
    "features": lambda a, u: feature_building(u),
    "scoring": lambda a, u: scoring(u, a.train_days, a.drivers, a.quickstart_model),
    # the model's section (benchmarks/scale_model.py)
    "pooled": lambda a, u: _model_sections().pooled_vs_symbol(a.pooled_days),
}
"""Sections by name; other parts of the project add theirs here."""


def _model_sections():
    from benchmarks import scale_model

    return scale_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    parser.add_argument("--symbols", type=int, default=100, help="features, scoring: symbols")
    parser.add_argument("--days", type=float, default=365, help="features, scoring: days of 5m bars")
    parser.add_argument("--base", type=int, default=4, help="simulated markets to derive from")
    parser.add_argument("--append-days", type=float, default=365)
    parser.add_argument("--pooled-days", type=float, default=365, help="pooled: days per symbol")
    parser.add_argument("--train-days", type=float, default=90,
                        help="scoring: simulated days of 5m bars the scoring model is trained on")
    parser.add_argument("--drivers", choices=("none", "top", "all"), default="none",
                        help="scoring: which bars get drivers (flushrisk score --drivers)")
    parser.add_argument("--quickstart-model", type=Path,
                        help="scoring: the quickstart's model directory (default: train one with "
                        "the quickstart's own steps, a few minutes)")
    args = parser.parse_args(argv)
    print(f"machine: {psutil.cpu_count()} cores, {gb(psutil.virtual_memory().total)} RAM, "
          f"load {psutil.getloadavg()[0]:.1f} {psutil.getloadavg()[1]:.1f} "
          f"{psutil.getloadavg()[2]:.1f}; started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    with scratch_dir("bench-scale-") as root:
        universe = Universe(root, args.symbols, args.days, args.base)
        for name in args.only or list(SECTIONS):
            SECTIONS[name](args, universe)
    print(f"finished {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load {psutil.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
