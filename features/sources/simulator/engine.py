"""The numba kernel: one-minute steps of the market, aggregated into output bars.

Everything here works in log prices and per-minute rates; :mod:`.market` converts the
pydantic config into :class:`KernelParams` and owns the random numbers, so the kernel is a
pure function of (state, params, random draws) and the same inputs give the same bits.

The leveraged crowd lives in two arrays of *liquidation-price buckets* (coins per bucket on
a log-price grid), one for longs, one for shorts. Three tricks keep a minute O(1) on average:

- voluntary closing removes the same fraction of every bucket, so it is a per-side scale
  factor (``mass_stored * scale`` is the true coin amount) instead of a sweep;
- funding moves every liquidation price of a side by the same log amount, so it is a
  per-side offset of the grid instead of a sweep;
- only the highest non-empty long bucket and the lowest non-empty short bucket can be hit
  next, so each side keeps a pointer to it and walks it as the mark price moves.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

# state vector layout
X, Q, HV, REG, MOM, SENT, PEMA, FUND = 0, 1, 2, 3, 4, 5, 6, 7
OFF_L, OFF_S, SCALE_L, SCALE_S, SUM_L, SUM_S, TOP_L, BOT_S = 8, 9, 10, 11, 12, 13, 14, 15
USED_B, USED_A, DN_B, DN_A, RV, HEDGE, FLOW, MINUTE, Q_TGT = 16, 17, 18, 19, 20, 21, 22, 23, 24
PENDING, PART, DEMAND, LAST_GL, LAST_GS, TOT_L, TOT_S, IMPACT = 25, 26, 27, 28, 29, 30, 31, 32
N_STATE = 33

# normal draws per minute
N_SV, N_RET, N_JUMP, N_EXDN, N_EXUP, N_PREM, N_FLOW_L, N_FLOW_S = 0, 1, 2, 3, 4, 5, 6, 7
N_SENT, N_DEPTH_B, N_DEPTH_A, N_VOLUME, N_PART, N_DEMAND = 8, 9, 10, 11, 12, 13
N_NORMALS = 14
# uniform draws per minute
U_REGIME, U_JUMP = 0, 1
N_UNIFORMS = 2

# regime table columns
R_VOL, R_DRIFT, R_JUMP_P, R_JUMP_MEAN, R_JUMP_STD, R_SENT = 0, 1, 2, 3, 4, 5
STRESSED = 3

# output columns of the kernel (prices already exponentiated)
OUT_COLUMNS: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "index_price",
    "mark_price",
    "volume_usd",
    "funding_rate",
    "open_interest_usd",
    "bid_depth_1pct_usd",
    "ask_depth_1pct_usd",
    "bid_depth_2pct_usd",
    "ask_depth_2pct_usd",
    "long_liq_usd",
    "short_liq_usd",
    "long_short_ratio",
    "taker_buy_ratio",
    "spot_volume_usd",
)
N_OUT = len(OUT_COLUMNS)

# Spot trading: a share of the background (non-leveraged) volume that shrinks while leverage
# builds up (funding and the perp premium above zero: longs crowd into the perp, where spot
# traders pay neither), and comes back once a flush has reset them.
SPOT_SHARE = 0.4  # spot / background perp volume in a calm market
SPOT_CROWDING = 0.4  # how fast the share falls per unit of crowding
SPOT_FUND_SCALE = 1e-4  # funding per 8 h that counts as one unit of crowding
SPOT_PREMIUM_SCALE = 2e-4  # perp premium over the index that counts as one unit


class KernelParams(NamedTuple):
    """Per-minute constants of the kernel (all floats; derived in ``market.kernel_params``)."""

    x0: float  # log start price (anchor)
    sigma_min: float  # normal per-minute volatility of the symbol
    anchor: float  # per-minute pull of log index to x0
    sv_decay: float
    sv_innov: float
    jump_vol: float  # jumps come more often when volatility is high: rate ~ exp(this * log-vol)
    day_amp: float  # amplitude of the intraday volatility cycle
    day_norm: float  # 1 / rms of the cycle, so it leaves the average variance unchanged
    day_peak: float  # minute of the UTC day when volatility peaks
    day_phase: float  # minute of the UTC day of the first simulated minute
    excursion: float
    jump_scale: float  # jump sizes are given at 50 % annual vol; scaled to the symbol
    grid0: float  # log price of bucket 0's lower edge
    width: float  # bucket width (log)
    mark_w: float
    q_kappa: float
    q_innov: float
    q_base: float
    q_imb: float
    q_flow: float
    demand_decay: float  # per-minute persistence of the premium's slow demand component
    demand_innov: float
    refill: float  # per-minute survival of eaten liquidity
    depth_frac: float
    depth2_mult: float
    depth_elast: float
    depth_decay: float
    depth_innov: float
    depth_min: float
    tau: float  # index transmission of liquidation impact
    mom_alpha: float
    mom_norm: float
    mom_sens: float
    fund_sens: float
    sent_decay: float
    sent_innov: float
    greed: float
    vol_aversion: float  # how strongly high realised volatility shifts new notional to low leverage
    base_flow: float  # coins per minute of new positions, before tilts
    long_share: float
    flow_sigma: float
    close_rate: float
    stress_close: float
    hedge_coins: float
    hedge_rate: float
    hedge_fund: float
    part_decay: float  # per-minute persistence of market participation (log hedged book)
    part_innov: float
    beta: float  # loading on the market factor (another symbol's index returns), if given
    idio: float  # scale of the symbol's own index shocks when a factor is given
    market_coins: float
    interest: float
    clamp: float
    cap: float
    fund_alpha: float
    interval: float  # minutes between settlements
    phase: float  # minutes from the last settlement to the first simulated minute
    rv_alpha: float
    turnover: float  # per-minute traded notional / OI
    vol_elast: float
    vol_sigma: float
    liq_mult: float
    flow_impact: float  # share of the crowd's net taker flow that walks the book
    impact_decay: float  # per-minute share of the index's forced-order impact that reverts
    account_elast: float  # accounts long/short = (notional long/short) ** this
    flow_vol_aversion: float  # new notional ~ (realised / normal vol) ** -this


@njit(cache=True, inline="always")
def _walk(consumed: float, d1: float, d2: float) -> float:
    """Log distance the price must travel to fill ``consumed`` USD from a book with d1 within
    1 % and d2 within 2 % of mid: linear within each band, and beyond 2 % a book whose
    cumulative depth grows with the square of the distance (latent buyers and sellers show up
    as the move gets large), which is what ends a cascade once the dense band is used up."""
    if consumed <= d1:
        return 0.01 * consumed / d1
    if consumed <= d2:
        return 0.01 + 0.01 * (consumed - d1) / (d2 - d1)
    return 0.02 * math.sqrt(consumed / d2)


@njit(cache=True)
def run_minutes(
    st: np.ndarray,
    mass_l: np.ndarray,
    mass_s: np.ndarray,
    p: KernelParams,
    reg: np.ndarray,
    trans_cum: np.ndarray,
    lev_long: np.ndarray,
    lev_short: np.ndarray,
    lev_logw: np.ndarray,
    lev_x: np.ndarray,
    nrm: np.ndarray,
    unif: np.ndarray,
    n_sub: int,
    out: np.ndarray,
    factor: np.ndarray,
    index_ret: np.ndarray,
    w_l: np.ndarray,
    w_s: np.ndarray,
) -> None:
    """Advance the market ``len(nrm)`` minutes, writing one row of ``out`` per ``n_sub`` minutes.

    ``st``, ``mass_l`` and ``mass_s`` are updated in place, so consecutive calls continue the
    same market. ``factor`` (empty, or one log return per minute) is the market factor: the
    index of a leading symbol, cascades included, which this index follows with ``p.beta``
    on top of its own shocks scaled by ``p.idio``. ``index_ret`` (empty, or one per minute)
    receives this index's log returns, to be the factor of the symbols that follow it.
    ``w_l`` and ``w_s`` hold the current leverage mix of new longs and shorts (state too).
    """
    has_factor = factor.shape[0] > 0
    keep_ret = index_ret.shape[0] > 0
    n_bars = nrm.shape[0] // n_sub
    nb = mass_l.shape[0]
    nlev = lev_long.shape[0]
    last_gl = st[LAST_GL]
    last_gs = st[LAST_GS]
    tot_l = st[TOT_L]
    tot_s = st[TOT_S]
    impact = st[IMPACT]

    x = st[X]
    q = st[Q]
    hv = st[HV]
    r = int(st[REG])
    mom = st[MOM]
    sent = st[SENT]
    pema = st[PEMA]
    fund = st[FUND]
    off_l = st[OFF_L]
    off_s = st[OFF_S]
    sc_l = st[SCALE_L]
    sc_s = st[SCALE_S]
    sum_l = st[SUM_L]
    sum_s = st[SUM_S]
    top_l = int(st[TOP_L])
    bot_s = int(st[BOT_S])
    used_b = st[USED_B]
    used_a = st[USED_A]
    dn_b = st[DN_B]
    dn_a = st[DN_A]
    rv = st[RV]
    hedge = st[HEDGE]
    flow = st[FLOW]
    minute = int(st[MINUTE])
    q_tgt = st[Q_TGT]
    pending = st[PENDING]
    part = st[PART]
    demand = st[DEMAND]
    interval = int(p.interval)
    phase = int(p.phase)
    inv_w = 1.0 / p.width

    for b in range(n_bars):
        bar_open = 0.0
        bar_hi = -1e300
        bar_lo = 1e300
        bar_vol = 0.0
        bar_buy = 0.0
        bar_liq_l = 0.0
        bar_liq_s = 0.0
        bar_spot = 0.0
        y_close = x + q
        bid1 = ask1 = bid2 = ask2 = 0.0
        for j in range(n_sub):
            i = b * n_sub + j
            # 1. the latent market: regime switch, stochastic volatility, index return
            u = unif[i, U_REGIME]
            for s in range(4):
                if u < trans_cum[r, s]:
                    r = s
                    break
            hv = hv * p.sv_decay + p.sv_innov * nrm[i, N_SV]
            sig = p.sigma_min * reg[r, R_VOL] * math.exp(hv)
            season = 1.0
            if p.day_amp > 0.0:
                # the daily cycle: busier hours move more and bring more news (jumps)
                day = (minute + p.day_phase - p.day_peak) * (2.0 * math.pi / 1440.0)
                season = 1.0 + p.day_amp * math.cos(day)
                sig *= p.day_norm * season
            ret = sig * nrm[i, N_RET]
            jump_p = reg[r, R_JUMP_P] * season * math.exp(p.jump_vol * hv)
            # compensated jumps: the drift between jumps makes up for their expected size, so
            # mostly-negative news gives a fat left tail, not a price that falls for years
            ret -= min(jump_p, 1.0) * p.jump_scale * reg[r, R_JUMP_MEAN]
            if unif[i, U_JUMP] < jump_p:
                ret += p.jump_scale * (reg[r, R_JUMP_MEAN] + reg[r, R_JUMP_STD] * nrm[i, N_JUMP])
            if has_factor:
                ret = p.idio * ret + p.beta * factor[i]
            ret += reg[r, R_DRIFT] - p.anchor * (x - p.x0)
            # the impact of forced and crowd orders on the index fades as arbitrage and
            # value traders step in, so that cascades and flows leave no lasting drift
            back = p.impact_decay * impact
            ret -= back
            impact -= back
            y_open = x + q
            if j == 0:
                bar_open = y_open
            # last minute's net orders of the leveraged crowd move the index (arbitraged
            # share) and the premium (the rest)
            ret += p.tau * pending
            impact += p.tau * pending
            x_close = x + ret
            x_lo = min(x, x_close) - abs(nrm[i, N_EXDN]) * sig * p.excursion
            x_hi = max(x, x_close) + abs(nrm[i, N_EXUP]) * sig * p.excursion
            q = q + p.q_kappa * (q_tgt - q) + p.q_innov * nrm[i, N_PREM] + (1.0 - p.tau) * pending

            # 2. the order book this minute: thinner when realised vol is high, minus what
            #    market orders ate and market makers have not refilled yet
            used_b *= p.refill
            used_a *= p.refill
            vol_ratio = min(max(math.sqrt(rv) / p.sigma_min, 0.5), 8.0)
            depth = p.depth_frac * p.market_coins * math.exp(x) * vol_ratio ** (-p.depth_elast)
            bid1 = depth * math.exp(dn_b)
            ask1 = depth * math.exp(dn_a)
            bid2 = bid1 * p.depth2_mult
            ask2 = ask1 * p.depth2_mult

            # 3. the cascade: while the mark trough is at or below the highest long liquidation
            #    bucket, liquidate it as a market sell against the bids; the impact lowers the
            #    trough (and the close), which may reach the next bucket
            liq_l = 0.0
            mark_lo = x_lo + p.mark_w * q
            kk = math.floor((mark_lo - off_l - p.grid0) * inv_w)
            while top_l >= 0 and top_l >= kk:
                c = mass_l[top_l]
                if c > 0.0:
                    mass_l[top_l] = 0.0
                    sum_l -= c
                    usd = c * sc_l * math.exp(x_lo + q)
                    liq_l += usd
                    d = _walk(used_b + usd, bid1, bid2) - _walk(used_b, bid1, bid2)
                    used_b += usd
                    x_lo = max(x_lo - p.tau * d, p.x0 - 3.5)
                    impact -= p.tau * d
                    x_close = max(x_close - p.tau * d, p.x0 - 3.5)
                    q = max(q - (1.0 - p.tau) * d, -0.2)
                    mark_lo = x_lo + p.mark_w * q
                    kk = math.floor((mark_lo - off_l - p.grid0) * inv_w)
                top_l -= 1
            y_lo = x_lo + q
            # ... and the same upwards for shorts (a short squeeze) against the asks
            liq_s = 0.0
            mark_hi = x_hi + p.mark_w * q
            kk = math.floor((mark_hi - off_s - p.grid0) * inv_w)
            while bot_s < nb and bot_s <= kk:
                c = mass_s[bot_s]
                if c > 0.0:
                    mass_s[bot_s] = 0.0
                    sum_s -= c
                    usd = c * sc_s * math.exp(x_hi + q)
                    liq_s += usd
                    d = _walk(used_a + usd, ask1, ask2) - _walk(used_a, ask1, ask2)
                    used_a += usd
                    x_hi = min(x_hi + p.tau * d, p.x0 + 3.5)
                    impact += p.tau * d
                    x_close = min(x_close + p.tau * d, p.x0 + 3.5)
                    q = min(q + (1.0 - p.tau) * d, 0.2)
                    mark_hi = x_hi + p.mark_w * q
                    kk = math.floor((mark_hi - off_s - p.grid0) * inv_w)
                bot_s += 1
            y_hi = x_hi + q
            # circuit breakers, so that no validated config can leave float range: the index
            # stays within exp(+-3.5) of its start (inside the bucket grid) and the premium
            # within +-20 %
            x_prev = x
            x = min(max(x_close, p.x0 - 3.5), p.x0 + 3.5)
            if keep_ret:
                index_ret[i] = x - x_prev
            q = min(max(q, -0.2), 0.2)
            y_close = x + q
            bar_hi = max(bar_hi, y_hi, y_open, y_close)
            bar_lo = min(bar_lo, y_lo, y_open, y_close)
            step = y_close - y_open
            rv = rv + p.rv_alpha * (step * step - rv)
            dn_b = dn_b * p.depth_decay + p.depth_innov * nrm[i, N_DEPTH_B]
            dn_a = dn_a * p.depth_decay + p.depth_innov * nrm[i, N_DEPTH_A]

            # 4. new positions: momentum chasing, funding aversion, sentiment and regime mood
            mom = mom + p.mom_alpha * (step - mom)
            z = min(max(mom / p.mom_norm, -4.0), 4.0)
            sent = sent * p.sent_decay + p.sent_innov * nrm[i, N_SENT]
            fz = (fund - p.interest) / 1e-4
            mood = sent + reg[r, R_SENT]
            tilt_l = min(max(p.mom_sens * z + mood - p.fund_sens * fz, -5.0), 5.0)
            a_l = math.exp(tilt_l)
            a_s = math.exp(-tilt_l)
            half_var = 0.5 * p.flow_sigma * p.flow_sigma
            if p.flow_vol_aversion > 0.0:
                # fewer new positions in a wild market: deleveraging, not leveraging up
                half_var += p.flow_vol_aversion * math.log(max(vol_ratio, 1.0))
            new_l = (
                p.base_flow
                * p.long_share
                * a_l
                * math.exp(p.flow_sigma * nrm[i, N_FLOW_L] - half_var)
            )
            new_s = (
                p.base_flow
                * (1.0 - p.long_share)
                * a_s
                * math.exp(p.flow_sigma * nrm[i, N_FLOW_S] - half_var)
            )
            greed = p.greed * (mood + 0.5 * z)
            calm = -p.vol_aversion * math.log(max(vol_ratio, 1.0))  # both de-risk when wild
            greed_l = min(max(calm + greed, -20.0), 20.0)
            greed_s = min(max(calm - greed, -20.0), 20.0)
            # the leverage mix moves slowly: recompute its weights only when the tilt has moved
            # by more than 0.005 (exp of it by 0.5 %), which saves most of a minute's exps
            if abs(greed_l - last_gl) > 0.005:
                last_gl = greed_l
                tot_l = 0.0
                for k in range(nlev):
                    w_l[k] = math.exp(lev_logw[k] + greed_l * lev_x[k])
                    tot_l += w_l[k]
            if abs(greed_s - last_gs) > 0.005:
                last_gs = greed_s
                tot_s = 0.0
                for k in range(nlev):
                    w_s[k] = math.exp(lev_logw[k] + greed_s * lev_x[k])
                    tot_s += w_s[k]
            add_l = new_l / (tot_l * sc_l)
            add_s = new_s / (tot_s * sc_s)
            # (a position whose liquidation price falls off the grid is not tracked: the grid
            # spans exp(+-4) around the start price, far beyond any plausible year)
            for k in range(nlev):
                kb = math.floor((y_close + lev_long[k] - off_l - p.grid0) * inv_w)
                if 0 <= kb < nb:
                    mass_l[kb] += add_l * w_l[k]
                    sum_l += add_l * w_l[k]
                    top_l = max(top_l, kb)
                kb = math.floor((y_close + lev_short[k] - off_s - p.grid0) * inv_w)
                if 0 <= kb < nb:
                    mass_s[kb] += add_s * w_s[k]
                    sum_s += add_s * w_s[k]
                    bot_s = min(bot_s, kb)

            # 5. voluntary closing: the same fraction of every bucket (a scale factor)
            cr = p.close_rate * (p.stress_close if r == STRESSED else 1.0)
            closed_l = sum_l * sc_l * cr
            closed_s = sum_s * sc_s * cr
            sc_l *= 1.0 - cr
            sc_s *= 1.0 - cr
            if sc_l < 1e-100:
                mass_l *= sc_l
                sum_l *= sc_l
                sc_l = 1.0
            if sc_s < 1e-100:
                mass_s *= sc_s
                sum_s *= sc_s
                sc_s = 1.0
            sum_l = max(sum_l, 0.0)  # float residue of liquidations must not go negative
            sum_s = max(sum_s, 0.0)
            longs = sum_l * sc_l
            shorts = sum_s * sc_s
            # their net market orders (opens and closes) walk the book next minute: a crowd
            # piling in lifts the price, and the same crowd leaving pushes it back down
            net = (new_l - new_s - closed_l + closed_s) * math.exp(y_close)
            if net > 0.0:
                pending = p.flow_impact * _walk(net, max(ask1 - used_a, p.depth_min * ask1), ask2)
            else:
                pending = -p.flow_impact * _walk(-net, max(bid1 - used_b, p.depth_min * bid1), bid2)
            pending = min(max(pending, -0.2), 0.2)
            # the hedged book follows market participation (money entering or leaving the
            # market for reasons of its own), and grows when funding pays carry
            part = part * p.part_decay + p.part_innov * nrm[i, N_PART]
            hedge_target = p.hedge_coins * math.exp(part) * (1.0 + p.hedge_fund * max(fz, 0.0))
            hedge += p.hedge_rate * (hedge_target - hedge)

            # 6. premium from net leveraged demand, funding from the averaged premium
            imb = (longs - shorts) / (longs + shorts + 1e-12)
            flow += p.mom_alpha * ((new_l - new_s) / p.base_flow - flow)
            demand = demand * p.demand_decay + p.demand_innov * nrm[i, N_DEMAND]
            q_tgt = p.q_base + demand + p.q_imb * imb + p.q_flow * flow
            pema += p.fund_alpha * (q - pema)
            fund = pema + min(max(p.interest - pema, -p.clamp), p.clamp)
            fund = min(max(fund, -p.cap), p.cap)
            if (minute + phase + 1) % interval == 0:
                # settlement: longs pay (shorts receive) ``fund`` of notional, which moves
                # every long and every short liquidation price up by about ``fund``
                off_l += fund
                off_s += fund

            # 7. the tape: background volume plus the leveraged flows and liquidations
            price = math.exp(y_close)
            oi_coins = longs + shorts + hedge
            base = (
                p.turnover
                * oi_coins
                * price
                * vol_ratio**p.vol_elast
                * math.exp(p.vol_sigma * nrm[i, N_VOLUME] - 0.5 * p.vol_sigma * p.vol_sigma)
            )
            tilt = 0.5 + 0.25 * math.tanh(step / p.sigma_min)
            churn = 0.5 * (p.liq_mult - 1.0) * (liq_l + liq_s)
            buy = base * tilt + (new_l + closed_s) * price + liq_s + churn
            sell = base * (1.0 - tilt) + (new_s + closed_l) * price + liq_l + churn
            bar_vol += buy + sell
            crowd = max(fund, 0.0) / SPOT_FUND_SCALE + max(q, 0.0) / SPOT_PREMIUM_SCALE
            bar_spot += SPOT_SHARE * base * math.exp(-SPOT_CROWDING * min(crowd, 10.0))
            bar_buy += buy
            bar_liq_l += liq_l
            bar_liq_s += liq_s
            minute += 1

        o = out[b]
        o[0] = math.exp(bar_open)
        o[1] = math.exp(bar_hi)
        o[2] = math.exp(bar_lo)
        o[3] = math.exp(y_close)
        o[4] = math.exp(x)
        o[5] = math.exp(x + p.mark_w * q)
        o[6] = bar_vol
        o[7] = fund
        o[8] = (sum_l * sc_l + sum_s * sc_s + hedge) * math.exp(y_close)
        o[9] = max(bid1 - used_b, p.depth_min * bid1)
        o[10] = max(ask1 - used_a, p.depth_min * ask1)
        o[11] = max(bid2 - used_b, p.depth_min * bid2)
        o[12] = max(ask2 - used_a, p.depth_min * ask2)
        o[13] = bar_liq_l
        o[14] = bar_liq_s
        floor = 1e-6 * p.market_coins
        o[15] = (max(sum_l * sc_l, floor) / max(sum_s * sc_s, floor)) ** p.account_elast
        o[16] = min(max(bar_buy / bar_vol, 0.0), 1.0)
        o[17] = bar_spot

    st[X] = x
    st[Q] = q
    st[HV] = hv
    st[REG] = r
    st[MOM] = mom
    st[SENT] = sent
    st[PEMA] = pema
    st[FUND] = fund
    st[OFF_L] = off_l
    st[OFF_S] = off_s
    st[SCALE_L] = sc_l
    st[SCALE_S] = sc_s
    st[SUM_L] = sum_l
    st[SUM_S] = sum_s
    st[TOP_L] = top_l
    st[BOT_S] = bot_s
    st[USED_B] = used_b
    st[USED_A] = used_a
    st[DN_B] = dn_b
    st[DN_A] = dn_a
    st[RV] = rv
    st[HEDGE] = hedge
    st[FLOW] = flow
    st[MINUTE] = minute
    st[Q_TGT] = q_tgt
    st[PENDING] = pending
    st[PART] = part
    st[DEMAND] = demand
    st[LAST_GL] = last_gl
    st[LAST_GS] = last_gs
    st[TOT_L] = tot_l
    st[TOT_S] = tot_s
    st[IMPACT] = impact
