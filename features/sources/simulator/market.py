"""From a config to a canonical frame: parameters, random numbers, burn-in, chunks, the frame.

The market always steps in one-minute substeps, whatever the output bar: a 1-hour frame is
the hourly aggregation of the very same minutes a 1-minute frame would show (same seed), so
coarse frames are as realistic as fine ones and only cost the same simulation time.

Random numbers come from numpy's PCG64, seeded from ``(seed, symbol)``, with separate
streams for normal and uniform draws, drawn chunk by chunk in minute order. The output does
not depend on chunk size, and two symbols with the same seed are independent markets.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from features.bars import bar_name, parse_bar
from features.errors import DataError
from features.schema import validate_frame
from features.sources.simulator import engine
from features.sources.simulator.config import SimConfig, SymbolProfile, base_asset, get_preset

MINUTES_PER_YEAR = 365 * 24 * 60
GRID_HALF_RANGE = 4.0  # the bucket grid spans the start price * exp(+-4)
CHUNK_MINUTES = 30 * 24 * 60  # ~16 MB of random draws per chunk

ProgressCallback = Callable[[int, int], None]


def _halflife_decay(halflife_minutes: float) -> float:
    return math.exp(-math.log(2) / halflife_minutes)


def kernel_params(
    cfg: SimConfig, profile: SymbolProfile, leader: SymbolProfile | None = None
) -> engine.KernelParams:
    """Turn human units (hours, days, per year) into the kernel's per-minute constants.

    With a ``leader`` (the market-factor symbol's profile) the index loads on the leader's
    returns with beta = correlation * vol / leader vol and keeps sqrt(1 - correlation**2) of
    its own shocks, so its volatility stays the profile's.
    """
    rho = profile.factor_correlation if leader is not None else 0.0
    beta = rho * profile.annual_vol / leader.annual_vol if leader is not None else 0.0
    part_decay = _halflife_decay(cfg.positioning.participation_halflife_hours * 60)
    demand_decay = _halflife_decay(cfg.premium.demand_halflife_hours * 60)
    sigma_min = profile.annual_vol / math.sqrt(MINUTES_PER_YEAR)
    sv_decay = _halflife_decay(cfg.volatility.halflife_hours * 60)
    depth_decay = _halflife_decay(cfg.depth.noise_halflife_hours * 60)
    sent_decay = _halflife_decay(cfg.positioning.sentiment_halflife_hours * 60)
    mom_alpha = 1 - _halflife_decay(cfg.positioning.momentum_halflife_hours * 60)
    market_coins = profile.market_size_usd / profile.start_price
    speculative = cfg.positioning.speculative_share * market_coins
    close_rate = 1.0 / (cfg.positioning.holding_hours * 60)
    premium_kappa = 1 - _halflife_decay(cfg.premium.halflife_minutes)
    x0 = math.log(profile.start_price)
    return engine.KernelParams(
        x0=x0,
        sigma_min=sigma_min,
        anchor=math.log(2) / (cfg.volatility.anchor_halflife_days * 1440),
        sv_decay=sv_decay,
        sv_innov=cfg.volatility.log_vol_std * math.sqrt(1 - sv_decay**2),
        jump_vol=cfg.volatility.jump_vol_elasticity,
        day_amp=cfg.volatility.intraday_amplitude,
        day_norm=1 / math.sqrt(1 + cfg.volatility.intraday_amplitude**2 / 2),
        day_peak=cfg.volatility.intraday_peak_hour_utc * 60,
        day_phase=0.0,
        excursion=cfg.volatility.intrabar_excursion,
        jump_scale=profile.annual_vol / 0.5,
        grid0=x0 - GRID_HALF_RANGE,
        width=cfg.bucket_width,
        mark_w=cfg.premium.mark_weight,
        q_kappa=premium_kappa,
        q_innov=cfg.premium.noise_std * math.sqrt(1 - (1 - premium_kappa) ** 2),
        q_base=cfg.premium.base,
        q_imb=cfg.premium.per_imbalance,
        q_flow=cfg.premium.per_flow,
        demand_decay=demand_decay,
        demand_innov=cfg.premium.demand_std * math.sqrt(1 - demand_decay**2),
        refill=_halflife_decay(cfg.depth.refill_halflife_minutes),
        depth_frac=cfg.depth.depth_1pct_fraction,
        depth2_mult=cfg.depth.depth_2pct_multiple,
        depth_elast=cfg.depth.vol_elasticity,
        depth_decay=depth_decay,
        depth_innov=cfg.depth.noise_std * math.sqrt(1 - depth_decay**2),
        depth_min=cfg.depth.min_fraction,
        tau=cfg.liquidation.index_transmission,
        mom_alpha=mom_alpha,
        mom_norm=sigma_min * math.sqrt(mom_alpha / (2 - mom_alpha)),
        mom_sens=cfg.positioning.momentum_sensitivity,
        fund_sens=cfg.positioning.funding_sensitivity,
        sent_decay=sent_decay,
        sent_innov=cfg.positioning.sentiment_std * math.sqrt(1 - sent_decay**2),
        greed=cfg.leverage.greed_tilt,
        vol_aversion=cfg.leverage.vol_aversion,
        base_flow=speculative * close_rate,
        long_share=cfg.positioning.long_share,
        flow_sigma=cfg.positioning.flow_noise,
        close_rate=close_rate,
        stress_close=cfg.positioning.stress_close_multiplier,
        hedge_coins=(1 - cfg.positioning.speculative_share) * market_coins,
        hedge_rate=1 - _halflife_decay(cfg.positioning.hedge_halflife_hours * 60),
        hedge_fund=cfg.positioning.hedge_funding_sensitivity,
        part_decay=part_decay,
        part_innov=cfg.positioning.participation_std * math.sqrt(1 - part_decay**2),
        beta=beta,
        idio=math.sqrt(1 - rho**2),
        market_coins=market_coins,
        interest=cfg.funding.interest_rate,
        clamp=cfg.funding.clamp,
        cap=cfg.funding.cap,
        fund_alpha=1 - _halflife_decay(cfg.funding.averaging_hours * 60 / 2),
        interval=float(round(cfg.funding.interval_hours * 60)),
        phase=0.0,
        rv_alpha=1 - _halflife_decay(30.0),
        turnover=cfg.volume.daily_turnover / 1440,
        vol_elast=cfg.volume.vol_elasticity,
        vol_sigma=cfg.volume.noise_std,
        liq_mult=cfg.volume.liquidation_multiplier,
        flow_impact=cfg.liquidation.flow_impact,
        impact_decay=1 - _halflife_decay(cfg.liquidation.impact_halflife_hours * 60),
        account_elast=cfg.positioning.account_ratio_elasticity,
        flow_vol_aversion=cfg.positioning.vol_aversion,
    )


def _tables(cfg: SimConfig, profile: SymbolProfile) -> dict[str, np.ndarray]:
    """Regime table, cumulative switching probabilities and the leverage ladder."""
    regimes = cfg.regimes.ordered()
    shift = cfg.regimes.drift_shift()
    reg = np.array(
        [
            [
                rp.vol_multiplier,
                (rp.drift_per_year + shift) / MINUTES_PER_YEAR,
                rp.jumps_per_day / 1440,
                rp.jump_mean,
                rp.jump_std,
                rp.sentiment,
            ]
            for rp in regimes
        ]
    )
    trans = np.zeros((4, 4))
    for i, (rp, row) in enumerate(zip(regimes, cfg.regimes.switch_weights)):
        leave = 1.0 / (rp.mean_hours * 60)
        others = sum(w for j, w in enumerate(row) if j != i)
        for j, w in enumerate(row):
            trans[i, j] = leave * w / others if j != i else 0.0
        trans[i, i] = 1.0 - leave
    trans_cum = np.cumsum(trans, axis=1)
    trans_cum[:, -1] = 1.0 + 1e-12  # a uniform draw always lands somewhere
    lev = np.asarray(cfg.leverage.levels, dtype=float)
    mm = cfg.leverage.maintenance_margin
    weights = np.asarray(cfg.leverage.weights, dtype=float)
    return {
        "reg": np.ascontiguousarray(reg),
        "trans_cum": np.ascontiguousarray(trans_cum),
        # isolated margin, linear contract: liquidation where equity = maintenance margin
        "lev_long": np.log(1 - 1 / lev + mm),
        "lev_short": np.log(1 + 1 / lev - mm),
        "lev_logw": np.log(np.maximum(weights, 1e-300) / weights.sum()),
        "lev_x": np.log(lev / 10.0),
    }


class _Market:
    """One symbol's market in progress: state, buckets, random streams."""

    def __init__(
        self,
        cfg: SimConfig,
        profile: SymbolProfile,
        seed: int,
        symbol: str,
        leader: SymbolProfile | None = None,
    ) -> None:
        self.params = kernel_params(cfg, profile, leader)
        self.tables = _tables(cfg, profile)
        n_buckets = round(2 * GRID_HALF_RANGE / cfg.bucket_width)
        self.mass_l = np.zeros(n_buckets)
        self.mass_s = np.zeros(n_buckets)
        st = np.zeros(engine.N_STATE)
        p = self.params
        st[engine.X] = p.x0
        st[engine.Q] = p.q_base
        st[engine.Q_TGT] = p.q_base
        st[engine.PEMA] = p.q_base
        st[engine.FUND] = cfg.funding.interest_rate
        st[engine.SCALE_L] = st[engine.SCALE_S] = 1.0
        st[engine.TOP_L] = -1
        st[engine.BOT_S] = n_buckets
        st[engine.RV] = p.sigma_min**2
        st[engine.HEDGE] = p.hedge_coins
        st[engine.LAST_GL] = st[engine.LAST_GS] = 1e300  # leverage mix computed on minute 1
        st[engine.TOT_L] = st[engine.TOT_S] = 1.0
        self.state = st
        self.w_l = np.empty(len(cfg.leverage.levels))
        self.w_s = np.empty(len(cfg.leverage.levels))
        streams = np.random.SeedSequence([seed, zlib.crc32(symbol.encode())]).spawn(2)
        self._normals = np.random.Generator(np.random.PCG64(streams[0]))
        self._uniforms = np.random.Generator(np.random.PCG64(streams[1]))

    def run(
        self,
        minutes: int,
        n_sub: int,
        factor: np.ndarray | None = None,
        keep_returns: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``minutes`` more minutes: the bars, and the index's minute returns if asked for."""
        nrm = self._normals.standard_normal((minutes, engine.N_NORMALS))
        unif = self._uniforms.random((minutes, engine.N_UNIFORMS))
        out = np.empty((minutes // n_sub, engine.N_OUT))
        returns = np.empty(minutes if keep_returns else 0)
        t = self.tables
        engine.run_minutes(
            self.state,
            self.mass_l,
            self.mass_s,
            self.params,
            t["reg"],
            t["trans_cum"],
            t["lev_long"],
            t["lev_short"],
            t["lev_logw"],
            t["lev_x"],
            nrm,
            unif,
            n_sub,
            out,
            _NO_FACTOR if factor is None else factor,
            returns,
            self.w_l,
            self.w_s,
        )
        return out, returns


_NO_FACTOR = np.empty(0)


def resolve_config(preset: str = "default", config: SimConfig | None = None) -> SimConfig:
    """``config`` when given, else the named preset."""
    return config if config is not None else get_preset(preset)


def _check_request(days: float, bar: str, seed: int) -> tuple[pd.Timedelta, int, int]:
    step = parse_bar(bar)
    n_sub = int(step / pd.Timedelta(minutes=1))
    if not math.isfinite(days) or days <= 0:
        raise DataError(f"days must be a positive number, got {days}")
    total_bars = round(days * 1440) // n_sub
    if total_bars < 2:
        raise DataError(
            f"{days} days of {bar_name(step)} bars is fewer than 2 bars; simulate longer"
        )
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    return step, n_sub, total_bars


def _markets_chunks(
    names: list[str], days: float, bar: str, seed: int, cfg: SimConfig
) -> Iterator[tuple[dict[str, pd.DataFrame], int, int]]:
    """Step several markets chunk by chunk, the market-factor symbol first.

    With one name, that market alone. With several, every symbol whose profile has a
    ``factor_correlation`` follows the index of ``cfg.market_factor`` (simulated with the same
    seed even when not listed; its frame is then not yielded), minute by minute, cascades
    included: a BTC flush drops the alts' index too, which can set off their own cascades.
    """
    step, n_sub, total_bars = _check_request(days, bar, seed)
    leader_name = base_asset(cfg.market_factor)
    joint = len(names) > 1
    leader_profile = cfg.profile(leader_name)
    order = [leader_name] if joint else []
    order += [n for n in names if n not in order]
    markets = {}
    for name in order:
        follows = joint and name != leader_name and cfg.profile(name).factor_correlation > 0
        markets[name] = (
            _Market(cfg, cfg.profile(name), int(seed), name, leader_profile if follows else None),
            follows,
        )

    burn = round(cfg.burn_in_days * 1440)
    start = pd.Timestamp(cfg.start).tz_convert("UTC")
    first = start - pd.Timedelta(minutes=burn)
    minute_of_day = first.hour * 60 + first.minute
    for market, _ in markets.values():
        interval = int(market.params.interval)
        market.params = market.params._replace(
            phase=float(minute_of_day % interval), day_phase=float(minute_of_day)
        )

    def advance(minutes: int, sub: int) -> dict[str, np.ndarray]:
        values: dict[str, np.ndarray] = {}
        factor = None
        for name, (market, follows) in markets.items():
            is_leader = joint and name == leader_name
            values[name], returns = market.run(
                minutes, sub, factor if follows else None, keep_returns=is_leader
            )
            if is_leader:
                factor = returns
        return values

    if burn:
        advance(burn, 1)
    bars_per_chunk = max(1, CHUNK_MINUTES // n_sub)
    done = 0
    while done < total_bars:
        n = min(bars_per_chunk, total_bars - done)
        values = advance(n * n_sub, n_sub)
        index = pd.date_range(start + done * step, periods=n, freq=step, name="time", unit="ns")
        chunks = {
            name: pd.DataFrame(values[name], index=index, columns=list(engine.OUT_COLUMNS))
            for name in names
        }
        done += n
        yield chunks, done, total_bars


def simulate_chunks(
    symbol: str = "BTC",
    days: float = 365,
    bar: str = "1m",
    seed: int = 7,
    preset: str = "default",
    config: SimConfig | None = None,
) -> Iterator[tuple[pd.DataFrame, int, int]]:
    """Yield ``(frame_chunk, bars_done, bars_total)`` as the simulation advances.

    For progress bars; :func:`simulate` joins the chunks. Chunks cover whole bars.
    """
    name = base_asset(symbol)
    for chunks, done, total in _markets_chunks(
        [name], days, bar, seed, resolve_config(preset, config)
    ):
        yield chunks[name], done, total


def _finish(parts: list[pd.DataFrame], what: str) -> pd.DataFrame:
    frame = pd.concat(parts) if len(parts) > 1 else parts[0]
    # no index freq: frames read back from the store or imported from files carry none, and
    # a simulated frame should compare equal to its stored copy
    frame.index = pd.DatetimeIndex(frame.index, freq=None)
    return validate_frame(frame, what)


def simulate(
    symbol: str = "BTC",
    days: float = 365,
    bar: str = "1m",
    seed: int = 7,
    preset: str = "default",
    config: SimConfig | None = None,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Simulate one perpetual-futures market and return its validated canonical frame.

    ``symbol`` picks the price level, volatility and size (BTC, ETH, SOL, or a generic alt
    derived from the name); ``preset`` the behaviour, unless a full ``config`` is given.
    The same arguments give the same frame, bit for bit. Nothing is written to disk.
    ``progress(bars_done, bars_total)`` is called after each chunk.
    """
    parts = []
    for chunk, done, total in simulate_chunks(symbol, days, bar, seed, preset, config):
        parts.append(chunk)
        if progress is not None:
            progress(done, total)
    what = f"simulated {base_asset(symbol)} ({preset if config is None else 'custom config'})"
    return _finish(parts, what)


def simulate_markets(
    symbols: list[str],
    days: float = 365,
    bar: str = "1m",
    seed: int = 7,
    preset: str = "default",
    config: SimConfig | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, pd.DataFrame]:
    """Simulate several correlated markets that share a market factor (BTC by default).

    Each symbol's index follows the factor symbol's index with beta
    ``factor_correlation * vol / factor vol`` (alts above 1) plus its own shocks, scaled so
    its total volatility stays its profile's; each keeps its own crowd, book and cascades.
    One symbol is simulated alone, exactly as :func:`simulate` does. Same seed, same frames.
    """
    names = list(dict.fromkeys(base_asset(s) for s in symbols))
    if not names:
        raise DataError("simulate_markets needs at least one symbol, e.g. ['BTC', 'ETH']")
    cfg = resolve_config(preset, config)
    parts: dict[str, list[pd.DataFrame]] = {n: [] for n in names}
    for chunks, done, total in _markets_chunks(names, days, bar, seed, cfg):
        for name, chunk in chunks.items():
            parts[name].append(chunk)
        if progress is not None:
            progress(done, total)
    label = preset if config is None else "custom config"
    return {n: _finish(parts[n], f"simulated {n} ({label}, joint)") for n in names}
