"""Sim-to-real transfer, measured: does a model trained on the simulator work on real data?

The real set is the shared OKX BTC-USD-SWAP hourly file (price, funding, basis and open
interest; no liquidations), labelled with the price-drop proxy label. Three models are scored
on the very same out-of-fold rows of the real data's walk-forward (training.fit's protocol):

1. **real**: the walk-forward model trained on the OKX rows before each fold (training.fit).
2. **sim only**: one booster trained on simulated BTC years (default preset) reduced to the
   columns the OKX set has, and built the way the OKX importer builds its bars (no wicks:
   high/low are the max/min of open and close), never seeing a real row.
3. **mix**: per fold, the real training rows plus the simulated rows at weight ``w``; ``w``
   and the number of rounds are chosen on the fold's inner validation split (the latest 20 %
   of its real training rows, purged by the label horizon) and never on the test rows.

PR-AUC is printed over all out-of-fold rows and over the last two months, beside the base
rate and the number of positives (a few dozen on this file: differences of a few hundredths
are within the noise). ``benchmarks/bench_training.py --transfer`` calls :func:`main`.

Run: ``.venv/bin/python benchmarks/transfer.py --real okx [--seeds 11,12] [--preset default]``

**On the real development set** (``--real coinglass``, the default): the Coinglass BTC hourly
file with real liquidations and the real evaluation's label, long liquidations >= $5M in the
next hour, with training.fit's walk-forward. Four models on the same out-of-fold rows:

1. **real**: the walk-forward model trained on the real rows before each fold;
2. **sim default**: one model trained on the default preset only (the booster blended with
   its linear part, as the real walk-forward's model is: :meth:`BoosterFit.predict_raw`);
3. **sim fitted**: the same model trained on a config fitted (``calibrate``) to the real rows
   *before the first test fold* only (the dev set's own earlier months), or the default's
   values at that market's scale when the fit could not do better (the report says which);
4. **mix**: per fold, the real training rows plus the fitted config's simulated rows, their
   weight chosen on the fold's inner validation split.

The label is the same on both sides: on a simulated frame the USD threshold is $5M scaled by
the simulated market's size (its median open interest over the real set's, $7.81B), stated
in the output. Each is compared with the real model by the protocol's paired day-block
bootstrap (90 % CI of real - other).

Run: ``.venv/bin/python benchmarks/transfer.py [--seeds 11,12] [--trials 30]``
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

from sklearn.metrics import average_precision_score

from features import LabelSpec, labelled_windows
from features.sources.simulator import simulate
from models.lgbm import BoosterConfig, fit_booster, inner_split, monotone_constraints
from training.fit import MODEL, TrainConfig, run_walk_forward

OKX_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "okx_btc_usd_swap_1h.csv"
DEV_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "coinglass_btc_1h_dev.csv"
REAL_USD = 5e6  # the real evaluation's label: long liquidations >= $5M in the next hour
MIX_WEIGHTS: tuple[float, ...] = (0.0, 0.05, 0.15, 0.4, 1.0)
LAST = pd.Timedelta(days=61)


def like_real(sim: pd.DataFrame, real: pd.DataFrame) -> pd.DataFrame:
    """The simulated frame with only the real set's columns, and OKX-style snapshot bars."""
    keep = [c for c in real.columns if real[c].notna().any()]
    out = sim[keep].copy()
    out["open"] = sim["close"].shift(1).fillna(sim["open"])
    out["high"] = out[["open", "close"]].max(axis=1)
    out["low"] = out[["open", "close"]].min(axis=1)
    return out


def _lgb_params(columns: list[str], config: BoosterConfig) -> dict:
    params = dict(config.params)
    if config.monotone and any(monotone_constraints(columns)):
        params["monotone_constraints"] = monotone_constraints(columns)
    return params


def fit_weighted(
    X_real: pd.DataFrame,
    y_real: np.ndarray,
    X_sim: pd.DataFrame,
    y_sim: np.ndarray,
    weight: float,
    gap: pd.Timedelta,
    config: BoosterConfig,
) -> tuple[object, float, int]:
    """Real rows (weight 1) + simulated rows (``weight``): rounds early-stopped on the real
    inner validation split; returns the booster refitted on all rows, its inner-validation
    PR-AUC and the rounds."""
    import lightgbm as lgb

    fit_pos, valid_pos = inner_split(X_real.index, config.valid_fraction, gap)
    params = _lgb_params(list(X_real.columns), config)

    def dataset(pos: np.ndarray, with_sim: bool) -> lgb.Dataset:
        Xs = [X_real.iloc[pos]] + ([X_sim] if with_sim and weight > 0 else [])
        ys = [y_real[pos]] + ([y_sim] if with_sim and weight > 0 else [])
        ws = [np.ones(len(pos))] + (
            [np.full(len(y_sim), weight)] if with_sim and weight > 0 else []
        )
        return lgb.Dataset(
            pd.concat(Xs).to_numpy(np.float64, na_value=np.nan),
            label=np.concatenate(ys),
            weight=np.concatenate(ws),
            params={"max_bin": params.get("max_bin", 255), "verbose": -1},
        )

    valid = lgb.Dataset(
        X_real.iloc[valid_pos].to_numpy(np.float64, na_value=np.nan),
        label=y_real[valid_pos],
        params={"max_bin": params.get("max_bin", 255), "verbose": -1},
    )
    booster = lgb.train(
        params,
        dataset(fit_pos, True),
        num_boost_round=config.num_boost_round,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    rounds = max(1, booster.best_iteration or booster.current_iteration())
    score = booster.predict(
        X_real.iloc[valid_pos].to_numpy(np.float64, na_value=np.nan), num_iteration=rounds
    )
    yv = y_real[valid_pos]
    pr = float(average_precision_score(yv, score)) if yv.sum() > 0 else float("nan")
    full = np.arange(len(X_real))
    return lgb.train(params, dataset(full, True), num_boost_round=rounds), pr, rounds


def mix_walk_forward(
    wf, X_real: pd.DataFrame, y_real: np.ndarray, X_sim: pd.DataFrame, y_sim: np.ndarray,
    gap: int, booster_config: BoosterConfig,
) -> tuple[np.ndarray, list[float]]:
    """Real plus simulated rows, per fold of ``wf``: the simulated rows' weight is chosen on
    the fold's inner validation split; returns the out-of-fold predictions and the weights."""
    parts, chosen = [], []
    for fold in wf.folds:
        Xf, yf = X_real.iloc[fold.fold.train], y_real[fold.fold.train]
        best = None
        for w in MIX_WEIGHTS:
            booster, pr, _ = fit_weighted(Xf, yf, X_sim, y_sim, w, gap, booster_config)
            if best is None or (np.isfinite(pr) and pr > best[1]):
                best = (booster, pr, w)
        chosen.append(best[2])
        X_test = X_real.iloc[fold.fold.test]
        parts.append(best[0].predict(X_test.to_numpy(np.float64, na_value=np.nan)))
    return np.concatenate(parts), chosen


def _pr(y: np.ndarray, p: np.ndarray) -> float:
    return float(average_precision_score(y, p)) if y.sum() > 0 else float("nan")


def _print_protocol(
    predictions: dict[str, np.ndarray],
    y: np.ndarray,
    index: pd.DatetimeIndex,
    thresholds: np.ndarray,
) -> None:
    """PR-AUC with day-block bootstrap 90 % CIs, and the paired differences to the real model
    (training.protocol, the evaluation protocol)."""
    from training.protocol import protocol_report

    report = protocol_report(predictions, y, index, pd.Timedelta("1h"), thresholds, model="real")
    for name, m in report["metrics"].items():
        lo, hi = m["ci"]["pr_auc"]
        print(f"  {name:<11} PR-AUC {m['pr_auc']:.4f} (90 % CI {lo:.4f} to {hi:.4f})")
    for name, d in report["differences"].items():
        lo, hi = d["pr_auc"]["ci"]
        print(
            f"  real - {name:<11} PR-AUC {d['pr_auc']['value']:+.4f} "
            f"(90 % CI {lo:+.4f} to {hi:+.4f})"
        )


def sim_rows(
    config, real: pd.DataFrame, X_real: pd.DataFrame, seeds: list[int], days: float
) -> tuple[pd.DataFrame, np.ndarray, float]:
    """Labelled simulated rows with the real set's columns, on the real label scaled to the
    simulated market's size; the scaled USD threshold (mean over seeds)."""
    keep = [c for c in real.columns if real[c].notna().any()]
    real_oi = float(real["open_interest_usd"].median())
    Xs, ys, usds = [], [], []
    for seed in seeds:
        sim = simulate("BTC", days=days, bar="1h", seed=seed, config=config)[keep]
        usd = REAL_USD * float(sim["open_interest_usd"].median()) / real_oi
        X, y, _ = labelled_windows(sim, LabelSpec(threshold_usd=float(f"{usd:.4g}")))
        Xs.append(X[X_real.columns])
        ys.append(y.to_numpy(np.float64))
        usds.append(usd)
    X_sim = pd.concat(Xs)
    # one time-ordered index for the simulated years, for fit_booster's inner split
    X_sim.index = pd.date_range("2000-01-01", periods=len(X_sim), freq="1h", tz="UTC")
    return X_sim, np.concatenate(ys), float(np.mean(usds))


def main_dev(args: argparse.Namespace) -> dict[str, float]:
    """Transfer on the real development set (real liquidations, the $5M label)."""
    from features.sources.coinglass import import_coinglass
    from features.sources.simulator import PRESETS
    from features.sources.simulator.calibrate import calibrate

    t0 = time.perf_counter()
    real = import_coinglass(args.dev)
    spec = LabelSpec(threshold_usd=REAL_USD)
    X_real, y_real_s, meta = labelled_windows(real, spec)
    y_real = y_real_s.to_numpy(np.float64)
    config = TrainConfig()
    gap = pd.Timedelta(spec.horizon)
    wf = run_walk_forward(X_real, y_real_s, pd.Timedelta("1h"), config)
    first_test = wf.index[0]
    earlier = real[real.index < first_test - gap]
    fit = calibrate(earlier, "BTC", PRESETS["default"], trials=args.trials, timeout_seconds=900)
    seeds = [int(s) for s in args.seeds.split(",")]
    X_def, y_def, usd_def = sim_rows(PRESETS["default"], real, X_real, seeds, args.days)
    X_fit, y_fit, usd_fit = sim_rows(fit.config, real, X_real, seeds, args.days)
    rows = X_real.loc[wf.index]
    # the simulator-trained models are the model the real walk-forward trains (the booster
    # blended with its linear part), not the booster alone
    sim_default = fit_booster(X_def, y_def, config.booster, gap=gap).predict_raw(rows)
    sim_fitted = fit_booster(X_fit, y_fit, config.booster, gap=gap).predict_raw(rows)
    mix, chosen = mix_walk_forward(wf, X_real, y_real, X_fit, y_fit, gap, config.booster)
    y = wf.y
    predictions = {
        "real": wf.predictions[MODEL],
        "sim_default": sim_default,
        "sim_fitted": sim_fitted,
        "mix": mix,
    }
    figures = {"base_rate": float(y.mean()), **{k: _pr(y, p) for k, p in predictions.items()}}
    print(
        f"\nsim-to-real transfer on the real development set ({args.dev.name}): label long "
        f"liquidations >= ${REAL_USD / 1e6:.0f}M in the next hour; {meta.rows} real rows, "
        f"{len(wf.folds)} walk-forward folds, {len(y)} out-of-fold rows ({int(y.sum())} "
        f"positives, base rate {y.mean():.3f}); first test hour {first_test:%Y-%m-%d %H:%M}"
    )
    print(
        f"simulated: BTC seeds {seeds}, {args.days:g} days each, the real set's columns only; "
        f"label scaled to the simulated market's size: default ${usd_def / 1e6:.2f}M "
        f"(base rate {y_def.mean():.3f}), fitted ${usd_fit / 1e6:.2f}M (base rate "
        f"{y_fit.mean():.3f})"
    )
    print(
        f"fit to the {len(earlier)} real hours before the first test fold "
        f"({fit.trials} trials, {fit.seconds:.0f} s): {fit.reason}"
    )
    print(f"mix weight per fold (chosen on the inner validation split): {chosen}")
    _print_protocol(predictions, y, wf.index, wf.thresholds)
    print(f"({time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f})")
    figures["mix_weights"] = chosen  # type: ignore[assignment]
    return figures


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", choices=("coinglass", "okx"), default="coinglass")
    parser.add_argument("--seeds", default="11,12", help="simulated BTC years to train on")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--okx", type=Path, default=OKX_FILE)
    parser.add_argument("--dev", type=Path, default=DEV_FILE)
    parser.add_argument("--trials", type=int, default=30, help="calibration trials")
    parser.add_argument("--days", type=float, default=365, help="days per simulated seed")
    if argv is None and __name__ != "__main__":
        argv = ["--real", "okx"]  # called as a library (bench_training --transfer): OKX, as before
    args = parser.parse_args(argv)
    if args.real == "coinglass":
        if not args.dev.exists():
            print(f"transfer: skipped, {args.dev} is absent")
            return {}
        return main_dev(args)
    if not args.okx.exists():
        print(f"transfer: skipped, {args.okx} is absent")
        return {}
    from features.sources.okx import import_okx_hourly

    t0 = time.perf_counter()
    real = import_okx_hourly(args.okx)
    spec = LabelSpec(kind="proxy")
    X_real, y_real_s, meta = labelled_windows(real, spec)
    y_real = y_real_s.to_numpy(np.float64)
    config = TrainConfig()
    gap = pd.Timedelta(spec.horizon)

    seeds = [int(s) for s in args.seeds.split(",")]
    sims_X, sims_y = [], []
    for seed in seeds:
        sim = like_real(simulate("BTC", days=365, bar="1h", seed=seed, preset=args.preset), real)
        Xs, ys, _ = labelled_windows(sim, spec)
        sims_X.append(Xs[X_real.columns])
        sims_y.append(ys.to_numpy(np.float64))
    X_sim = pd.concat(sims_X)
    y_sim = np.concatenate(sims_y)
    # one time-ordered index for the simulated years, for fit_booster's inner split
    X_sim.index = pd.date_range("2000-01-01", periods=len(X_sim), freq="1h", tz="UTC")

    # 1. real: the walk-forward of training.fit
    wf = run_walk_forward(X_real, y_real_s, pd.Timedelta("1h"), config)
    # 2. sim only: one booster on the simulated rows, scored on every fold's test rows
    sim_fit = fit_booster(X_sim, y_sim, config.booster, gap=gap)
    sim_only = sim_fit.booster.predict(X_real.loc[wf.index].to_numpy(np.float64, na_value=np.nan))
    # 3. mix: weight of the simulated rows chosen per fold on the inner validation split
    mix, chosen = mix_walk_forward(wf, X_real, y_real, X_sim, y_sim, gap, config.booster)

    y = wf.y
    last = wf.index >= wf.index[-1] - LAST
    figures = {
        "base_rate": float(y.mean()),
        "real": _pr(y, wf.predictions[MODEL]),
        "sim_only": _pr(y, sim_only),
        "mix": _pr(y, mix),
        "base_rate_last2m": float(y[last].mean()),
        "real_last2m": _pr(y[last], wf.predictions[MODEL][last]),
        "sim_only_last2m": _pr(y[last], sim_only[last]),
        "mix_last2m": _pr(y[last], mix[last]),
    }
    print(
        f"\nsim-to-real transfer: OKX BTC-USD-SWAP hourly, label {spec.describe()}; "
        f"{meta.rows} real rows, groups {meta.groups}; {len(wf.folds)} walk-forward folds, "
        f"{len(y)} out-of-fold rows ({int(y.sum())} positives); simulated: preset "
        f"{args.preset!r}, BTC seeds {seeds}, {len(X_sim)} rows ({int(y_sim.sum())} positives)"
    )
    print(
        f"{'PR-AUC':<28}{f'all out-of-fold ({int(y.sum())})':>22}"
        f"{f'last two months ({int(y[last].sum())})':>22}   (positives)"
    )
    for key, name in (
        ("base_rate", "base rate"),
        ("real", "trained on OKX (walk-forward)"),
        ("sim_only", "trained on simulator only"),
        ("mix", "OKX + simulator rows (mix)"),
    ):
        print(f"{name:<28}{figures[key]:>22.4f}{figures[key + '_last2m']:>22.4f}")
    print(f"mix weight per fold (chosen on the inner validation split): {chosen}")
    _print_protocol(
        {"sim_only": sim_only, "real": wf.predictions[MODEL], "mix": mix},
        y,
        wf.index,
        wf.thresholds,
    )
    print(f"({time.perf_counter() - t0:.0f} s)")
    figures["mix_weights"] = chosen  # type: ignore[assignment]
    return figures


if __name__ == "__main__":
    main()
