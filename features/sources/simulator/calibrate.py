"""Fit the simulator to a market's stylised facts: simulated method of moments with Optuna.

A user with their own exchange data can make the simulator look like *their* market: the
facts of :mod:`.realism` are measured on the real frame, and Optuna's TPE sampler searches
the simulator's main parameters for the config whose simulated facts (mean over seeds, on as
many days as the real frame holds, capped at a year) come closest. A candidate's score is
the number of facts it misses (each costs :data:`MISS_COST`) plus the sum of squared
differences, each scaled by the fact's tolerance (the width of its realism band, or its
bootstrap CI where that is wider), so no fact dominates by its units. Facts the frame cannot
support (no liquidation column, say) are left out of the score and named.

The search starts from the base config and stays within :data:`TRUST_REGION` of it (a share
of each parameter's range): the default already meets most facts, and a search over the
whole space finds configs that fit the fitting seeds' noise, not the market. The few best
trials are then scored again on seeds of their own (:data:`SELECT_SEEDS`), so that the pick
is not the luckiest draw, before the held-out check decides between the fit and the default.

Scale is not fitted but read off the data: the symbol's volatility from its hourly returns,
its price from the first close and its size from the median open interest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from pydantic import ValidationError

from features.errors import DataError
from features.sources.simulator.config import SimConfig, SymbolProfile, base_asset, derive
from features.sources.simulator.market import simulate
from features.sources.simulator.realism import (
    FACT_KEYS,
    Facts,
    fact,
    hourly_frame,
    mean_facts,
    stylised_facts,
)


@dataclass(frozen=True)
class Param:
    """One fitted parameter: a dotted config path, its search range, log scale or not."""

    path: str
    lo: float
    hi: float
    log: bool = False


# The main levers of the facts (see the package docstring for what each does).
PARAMS: tuple[Param, ...] = (
    Param("volatility.halflife_hours", 12.0, 400.0, log=True),
    Param("volatility.log_vol_std", 0.1, 0.9),
    Param("volatility.intraday_amplitude", 0.0, 0.8),
    Param("volatility.jump_vol_elasticity", 0.0, 3.0),
    Param("depth.vol_elasticity", 0.0, 2.5),
    Param("regimes.stressed.jumps_per_day", 0.2, 6.0, log=True),
    Param("regimes.news_jumps_per_day", 0.1, 6.0, log=True),
    Param("regimes.news_jump_std", 0.002, 0.02, log=True),
    Param("depth.depth_1pct_fraction", 0.01, 0.2, log=True),
    Param("depth.refill_halflife_minutes", 3.0, 120.0, log=True),
    Param("positioning.speculative_share", 0.05, 0.5, log=True),
    Param("positioning.participation_std", 0.0, 0.3),
    Param("positioning.momentum_sensitivity", 0.0, 0.8),
    Param("leverage.greed_tilt", 0.0, 1.5),
    Param("leverage.vol_aversion", 0.0, 3.0),
    Param("leverage.high_leverage_scale", 0.05, 5.0, log=True),
    Param("premium.base", -1.5e-4, 1.0e-4),
    Param("premium.demand_std", 0.0, 3e-4),
    Param("premium.per_imbalance", 0.0, 2e-3),
    Param("positioning.long_share", 0.45, 0.65),
    Param("positioning.vol_aversion", 0.0, 4.0),
)
HIGH_LEVERAGE = 50.0  # levels at or above this are scaled by leverage.high_leverage_scale
NEWS_REGIMES = ("calm", "trend_up", "trend_down")  # regimes.news_*: jumps outside stress


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
    tree[keys[-1]] = value


def apply(base: SimConfig, values: dict[str, float]) -> SimConfig:
    """``base`` with the fitted values set (``leverage.high_leverage_scale`` rescales the
    weights of the ladder's levels >= 50x, the extreme tail of the crowd;
    ``regimes.news_jumps_per_day`` and ``regimes.news_jump_std`` set the jumps of every
    regime but the stressed one, with a mean of a quarter of the std downwards)."""
    overrides: dict[str, Any] = {}
    for path, value in values.items():
        if path == "regimes.news_jumps_per_day":
            for regime in NEWS_REGIMES:
                _set(overrides, f"regimes.{regime}.jumps_per_day", float(f"{value:.6g}"))
        elif path == "regimes.news_jump_std":
            for regime in NEWS_REGIMES:
                _set(overrides, f"regimes.{regime}.jump_std", float(f"{value:.6g}"))
                _set(overrides, f"regimes.{regime}.jump_mean", float(f"{-value / 4:.6g}"))
        elif path == "leverage.high_leverage_scale":
            lev = base.leverage
            weights = [
                w * value if level >= HIGH_LEVERAGE else w
                for level, w in zip(lev.levels, lev.weights)
            ]
            _set(overrides, "leverage.weights", [float(f"{w:.6g}") for w in weights])
        else:
            _set(overrides, path, float(f"{value:.6g}"))
    return derive(base, **overrides)


def profile_from(frame: pd.DataFrame, base: SymbolProfile) -> SymbolProfile:
    """Price, volatility and size of the real market, read off its frame."""
    h = hourly_frame(frame)
    r = np.log(h["close"]).diff().dropna()
    if len(r) < 48:
        raise DataError("calibration needs at least 2 days of consecutive hourly bars")
    vol = float(r.std() * math.sqrt(24 * 365))
    size = base.market_size_usd
    if "open_interest_usd" in h.columns and h["open_interest_usd"].notna().any():
        size = float(h["open_interest_usd"].median())
    return SymbolProfile(
        start_price=float(h["close"].dropna().iloc[0]),
        annual_vol=min(max(vol, 0.01), 5.0),
        market_size_usd=size,
        factor_correlation=base.factor_correlation,
    )


def tolerance(key: str, real: Facts) -> float:
    """How far a simulated fact may sit from the real one before it counts as a miss."""
    f = fact(key)
    tol = (f.hi - f.lo) / 2
    v = real.values.get(key)
    if v is not None and v.ci is not None:
        tol = max(tol, (v.ci[1] - v.ci[0]) / 2)
    return tol


def distance(sim: Facts, real: Facts, keys: Sequence[str]) -> float:
    """Sum of squared scaled differences; a fact the simulation could not measure costs 25."""
    total = 0.0
    for key in keys:
        s, r = sim.value(key), real.value(key)
        total += 25.0 if not math.isfinite(s) else ((s - r) / tolerance(key, real)) ** 2
    return total


MISS_COST = 2.0  # score of a missed fact, on top of its distance: meeting facts comes first


def _floor_half(key: str, real: Facts) -> float:
    """The least half-width a fact is judged with: the real fact's bootstrap CI, and a quarter
    of its realism band (the resolution the facts are judged at)."""
    f = fact(key)
    v = real.values.get(key)
    ci = (v.ci[1] - v.ci[0]) / 2 if v is not None and v.ci is not None else 0.0
    return max(ci, (f.hi - f.lo) / 4)


def score(sim: Facts, real: Facts, keys: Sequence[str]) -> float:
    """What the search minimises: :data:`MISS_COST` per fact outside its least half-width
    of the real value, plus :func:`distance`."""
    misses = sum(
        not _met(sim, real, {k: _floor_half(k, real)}, k) for k in keys
    )
    return MISS_COST * misses + distance(sim, real, keys)


FIT_SEEDS: tuple[int, ...] = (1, 2, 3)  # the search scores each trial on these
CHECK_SEEDS: tuple[int, ...] = (101, 102, 103, 104, 105, 106)
SELECT_SEEDS: tuple[int, ...] = (201, 202, 203, 204, 205, 206, 207, 208)  # re-scoring of the best trials
SELECT_TOP = 5  # best trials re-scored on SELECT_SEEDS, beside the base config
TRUST_REGION = 0.4  # the search stays within this share of each range around the base value
AXIS_STEP = 0.2  # the first trials move one parameter by this share of its full range
STATIONARY_SEEDS: tuple[int, ...] = (101, 102)
STATIONARY_DAYS = 730.0
PRICE_RATIO_BAND = (1 / 3, 3.0)  # end/start price a fitted config must keep over 2 years
Z90 = 1.645


@dataclass
class Calibration:
    """The outcome: the fitted config, the facts before and after, what was left out.

    ``after`` is measured on fresh seeds (not the ones fitted on), and ``ci_half`` is the
    half-width of the 90 % interval in which one dataset as long as the real one falls under
    the fitted simulator (from the seeds' spread; at least the real fact's own bootstrap CI
    where it has one, and a quarter of its realism band, the resolution the facts are
    judged at): a real fact inside it is matched.
    """

    symbol: str
    config: SimConfig
    values: dict[str, float]
    real: Facts
    before: Facts
    after: Facts
    fitted_keys: list[str]
    left_out: dict[str, str]
    trials: int
    seconds: float
    ci_half: dict[str, float] = field(default_factory=dict)
    history: list[float] = field(default_factory=list)
    default: Facts | None = None  # the default preset (at this market's scale), same seeds
    default_half: dict[str, float] = field(default_factory=dict)
    price_ratios: list[float] = field(default_factory=list)  # fitted, after 2 years
    kept_default: bool = False
    reason: str = ""

    def matched(self, key: str) -> bool:
        return _met(self.after, self.real, self.ci_half, key)

    def default_matched(self, key: str) -> bool:
        return self.default is not None and _met(self.default, self.real, self.default_half, key)

    def met(self) -> int:
        """Facts the fitted config meets on the held-out seeds."""
        return sum(self.matched(k) for k in self.fitted_keys)

    def default_met(self) -> int:
        """Facts the default preset meets on the same held-out seeds."""
        return sum(self.default_matched(k) for k in self.fitted_keys)


def _met(sim: Facts, real: Facts, half: dict[str, float], key: str) -> bool:
    value, target = sim.value(key), real.value(key)
    return math.isfinite(value) and abs(value - target) <= half.get(key, math.nan)


def simulated(
    cfg: SimConfig, symbol: str, days: float, seeds: Sequence[int], reps: int = 0
) -> Facts:
    """Mean facts over seeds."""
    return mean_facts(simulated_runs(cfg, symbol, days, seeds, reps), f"simulated {symbol}")


def simulated_runs(
    cfg: SimConfig, symbol: str, days: float, seeds: Sequence[int], reps: int = 0
) -> list[Facts]:
    return [
        stylised_facts(simulate(symbol, days=days, bar="1h", seed=s, config=cfg), reps=reps)
        for s in seeds
    ]


def _intervals(runs: Sequence[Facts], real: Facts) -> dict[str, float]:
    return {key: max(half, _floor_half(key, real)) for key, half in spread(runs).items()}


def _hourly_vol(cfg: SimConfig, symbol: str, days: float, seeds: Sequence[int]) -> float:
    """Mean annualised hourly volatility of the simulated symbol over the seeds."""
    vols = []
    for s in seeds:
        close = simulate(symbol, days=days, bar="1h", seed=s, config=cfg)["close"]
        vols.append(float(np.log(close).diff().std() * math.sqrt(24 * 365)))
    return float(np.mean(vols))


def spread(runs: Sequence[Facts]) -> dict[str, float]:
    """Half-width of the 90 % interval of one run's fact around the runs' mean."""
    out = {}
    for key in FACT_KEYS:
        vals = np.array([r.value(key) for r in runs])
        vals = vals[np.isfinite(vals)]
        if len(vals) >= 2:
            out[key] = float(Z90 * vals.std(ddof=1) * math.sqrt(1 + 1 / len(vals)))
    return out


def calibrate(
    real_frame: pd.DataFrame,
    symbol: str,
    base: SimConfig,
    trials: int = 200,
    timeout_seconds: float = 240.0,
    seeds: Sequence[int] = FIT_SEEDS,
    params: Sequence[Param] = PARAMS,
    max_days: float = 365.0,
    sampler_seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
    check_seeds: Sequence[int] = CHECK_SEEDS,
    stationary_days: float = STATIONARY_DAYS,
    select_seeds: Sequence[int] = SELECT_SEEDS,
) -> Calibration:
    """Search ``params`` for the config whose simulated facts match ``real_frame``'s.

    Stops after ``trials`` trials or ``timeout_seconds``, whichever comes first (the base
    config is enqueued as the first trial, and every trial stays within
    :data:`TRUST_REGION` of it). The :data:`SELECT_TOP` best trials and the base are scored
    again on ``select_seeds`` and the best of them is picked. The pick is
    then judged on ``check_seeds``, which the fit never saw, beside the default at the same
    scale: it is kept only if it meets more of the real facts and its price stays within
    :data:`PRICE_RATIO_BAND` of its start over ``stationary_days``; otherwise the result
    keeps the default's values and its ``reason`` says why. ``progress(trial,
    best_distance)`` after each trial.
    """
    t0 = time.perf_counter()
    name = base_asset(symbol)
    real = stylised_facts(real_frame, f"{name} (real)")
    left_out = {k: real.values[k].missing or "no value" for k in FACT_KEYS if not real.values[k].ok}
    keys = real.supported()
    if not keys:
        raise DataError(f"{name}: no stylised fact can be measured on this dataset")
    h = hourly_frame(real_frame)
    days = min(max((h.index[-1] - h.index[0]) / pd.Timedelta(days=1), 30.0), max_days)
    profile = profile_from(real_frame, base.profile(name))
    base = derive(base, symbols={name: profile.model_dump()})
    # The profile's volatility is the diffusion's; jumps, stress and cascades add to it. Scale
    # it so that the simulated hourly volatility is the real one.
    sim_vol = _hourly_vol(base, name, days, seeds)
    vol = min(max(profile.annual_vol**2 / sim_vol, 0.01), 5.0)
    scaled = profile.model_copy(update={"annual_vol": vol})
    base = derive(base, symbols={name: scaled.model_dump()})
    before = simulated(base, name, days, seeds)

    region = [_around(p, _current(base, p)) for p in params]

    def objective(trial: optuna.Trial) -> float:
        values = {p.path: trial.suggest_float(p.path, p.lo, p.hi, log=p.log) for p in region}
        try:
            cfg = apply(base, values)
        except ValidationError:  # a combination the config validation refuses
            return 1e9
        return score(simulated(cfg, name, days, seeds), real, keys)

    sampler = optuna.samplers.TPESampler(seed=sampler_seed, multivariate=True)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    start = {p.path: min(max(_current(base, p), p.lo), p.hi) for p in region}
    study.enqueue_trial(start)
    # then one step along each parameter, both ways, so the sampler learns early which
    # directions pay (a few of these single moves already beat the default on real BTC)
    for full, p in zip(params, region):
        for sign in (-1.0, 1.0):
            study.enqueue_trial({**start, p.path: _step(full, p, start[p.path], sign)})
    history: list[float] = []

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        history.append(study.best_value)
        if progress is not None:
            progress(len(study.trials), study.best_value)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=trials, timeout=timeout_seconds, callbacks=[callback])
    # the first trial is the default itself (its values, clamped to the search ranges, only
    # approximate it): when it wins, the fit found nothing better
    best = _select(study, base, name, days, select_seeds, real, keys)
    cfg = base if best is None else apply(base, best)
    best = best or {}
    # judged on seeds the fit never saw, against the default preset at the same scale
    check = simulated_runs(cfg, name, days, check_seeds)
    after = mean_facts(check, f"simulated {name}")
    default_runs = check if cfg == base else simulated_runs(base, name, days, check_seeds)
    ratios = [
        float(close.iloc[-1] / close.iloc[0])
        for close in (
            simulate(name, days=stationary_days, bar="1h", seed=s, config=cfg)["close"]
            for s in STATIONARY_SEEDS
        )
    ]
    result = Calibration(
        symbol=name,
        config=cfg,
        values=best,
        real=real,
        before=before,
        after=after,
        fitted_keys=keys,
        left_out=left_out,
        trials=len(study.trials),
        seconds=time.perf_counter() - t0,
        ci_half=_intervals(check, real),
        history=history,
        default=mean_facts(default_runs, f"default {name}"),
        default_half=_intervals(default_runs, real),
        price_ratios=ratios,
    )
    return _judge(result, base)


def _judge(result: Calibration, base: SimConfig) -> Calibration:
    """Keep the fit only if it meets more facts than the default on the held-out seeds and
    stays stationary; otherwise keep the default's values and say why."""
    fitted, default = result.met(), result.default_met()
    keys = result.fitted_keys
    gap = (
        f" (distance {distance(result.after, result.real, keys):.1f}, the default "
        f"{distance(result.default, result.real, keys):.1f})"
        if result.default is not None
        else ""
    )
    lo, hi = PRICE_RATIO_BAND
    drift = [r for r in result.price_ratios if not lo <= r <= hi]
    if drift:
        why = f"the fitted config drifts (end/start price {', '.join(f'{r:.2f}' for r in drift)} after 2 years)"
    elif fitted <= default:
        why = f"the fit meets {fitted} facts, the default {default}, on held-out seeds{gap}"
    else:
        result.reason = (
            f"fitted config meets {fitted} of {len(result.fitted_keys)} facts on held-out "
            f"seeds, the default {default}{gap}; end/start price after 2 years "
            + ", ".join(f"{r:.2f}" for r in result.price_ratios)
        )
        return result
    result.kept_default = True
    result.reason = f"could not do better than the default: {why}; kept the default's values"
    result.config = base
    result.values = {}
    result.after = result.default if result.default is not None else result.after
    result.ci_half = dict(result.default_half)
    return result


def _around(param: Param, value: float) -> Param:
    """``param``'s range cut to :data:`TRUST_REGION` of its width (in log units for a log
    parameter) on each side of ``value``."""
    if param.log:
        lo, hi, v = math.log(param.lo), math.log(param.hi), math.log(max(value, param.lo))
        width = TRUST_REGION * (hi - lo)
        return Param(param.path, math.exp(max(lo, v - width)), math.exp(min(hi, v + width)), True)
    width = TRUST_REGION * (param.hi - param.lo)
    return Param(param.path, max(param.lo, value - width), min(param.hi, value + width))


def _step(full: Param, region: Param, value: float, sign: float) -> float:
    """``value`` moved by :data:`AXIS_STEP` of ``full``'s range (log units for a log
    parameter), kept inside ``region``."""
    if full.log:
        moved = math.log(value) + sign * AXIS_STEP * math.log(full.hi / full.lo)
        return min(max(math.exp(moved), region.lo), region.hi)
    moved = value + sign * AXIS_STEP * (full.hi - full.lo)
    return min(max(moved, region.lo), region.hi)


def _select(
    study: optuna.Study,
    base: SimConfig,
    name: str,
    days: float,
    seeds: Sequence[int],
    real: Facts,
    keys: Sequence[str],
) -> dict[str, float] | None:
    """The best of the study's top trials and the base config (``None``), scored again on
    ``seeds``: the search's best score is partly the luck of its own seeds."""
    done = [t for t in study.trials if t.value is not None and t.value < 1e9]
    top = sorted((t for t in done if t.number != 0), key=lambda t: t.value)[:SELECT_TOP]
    if not top or not seeds:
        return None if study.best_trial.number == 0 else dict(study.best_params)
    scored = [(score(simulated(base, name, days, seeds), real, keys), -1, None)]
    for t in top:
        cfg = apply(base, t.params)
        scored.append((score(simulated(cfg, name, days, seeds), real, keys), t.number, t.params))
    return min(scored, key=lambda x: (x[0], x[1]))[2]


def _current(cfg: SimConfig, param: Param) -> float:
    if param.path == "leverage.high_leverage_scale":
        return 1.0
    if param.path.startswith("regimes.news_"):
        field_name = param.path.removeprefix("regimes.news_")
        return float(getattr(cfg.regimes.calm, field_name))
    node: Any = cfg
    for key in param.path.split("."):
        node = getattr(node, key)
    return float(node)


def config_overrides(cfg: SimConfig, base: SimConfig, preset: str) -> dict[str, Any]:
    """The fitted config as a file ``--config`` reads: the preset plus what differs from it."""
    new, old = cfg.model_dump(mode="json"), base.model_dump(mode="json")

    def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in a.items():
            if isinstance(value, dict) and isinstance(b.get(key), dict) and key != "symbols":
                sub = diff(value, b[key])
                if sub:
                    out[key] = sub
            elif key == "symbols":
                changed = {s: v for s, v in value.items() if b.get(key, {}).get(s) != v}
                if changed:
                    out[key] = changed
            elif value != b.get(key):
                out[key] = value
        return out

    return {"preset": preset, **diff(new, old)}
