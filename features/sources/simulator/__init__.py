"""A mechanistic perpetual-futures market: leverage builds up, and flushes out in cascades.

No public data set carries funding, open-interest growth, basis, order-book depth and true
liquidations together, so FlushRisk simulates them. The labels downstream ("long
liquidations in the next hour >= 0.3 % of open interest") are *not* drawn at random: they
are whatever the mechanism below liquidates. ``simulate(...)`` returns a validated canonical
frame (all columns) and never touches disk; ``flushrisk data simulate`` stores it.

The mechanism, one-minute step by one-minute step (:mod:`.engine`)
----------------------------------------------------------------------
1. **A latent index (spot) price.** A Markov chain switches between four regimes: calm,
   trending up, trending down and stressed, each with its own volatility level, drift and
   jump rate (stressed: high volatility, frequent mostly-negative jumps). On top, log
   volatility follows a slow mean-reverting process (stochastic volatility), which gives
   volatility clustering hours to days long. A weak pull to the start level keeps a year's
   path plausible.

2. **A population of leveraged positions.** Every minute new longs and shorts open at the
   perpetual's price. Their intensity rises with the recent trend (momentum chasing), with a
   slow sentiment process and the regime's mood, and falls as funding gets expensive for
   their side. Their leverage is drawn from a ladder 2x .. 100x (most mass at 5x-25x); greed
   (sentiment + trend) tilts new notional towards high leverage. A position's liquidation
   price follows from its entry, leverage and the maintenance margin (isolated margin, linear
   contract): long ``entry * (1 - 1/lev + mm)``, short ``entry * (1 + 1/lev - mm)``. Positions
   are aggregated, in coins, in buckets of liquidation price (0.1 % wide in log price).
   Positions close voluntarily at a steady rate (faster in stress). Open interest is the
   open notional: leveraged longs + leveraged shorts + a hedged (cash-and-carry) book that
   grows when funding is rich.

3. **Premium, basis and funding.** The perpetual trades at the index times ``exp(premium)``.
   The premium mean-reverts within minutes towards a level set by net leveraged demand
   (longs - shorts over their sum, plus the recent net opening flow), so a crowded long book
   means a positive basis. Funding is the exchange formula: the premium averaged over the
   funding interval plus ``clamp(interest - premium, +-clamp)``, capped; the frame shows the
   rate in force. Every 8 hours it is charged: longs pay, shorts receive, which moves every
   long *and* every short liquidation price up by about the rate (margins shrink for longs,
   grow for shorts). The mark price, which triggers liquidations, is the index plus part of
   the premium.

4. **Order-book depth.** Resting liquidity within 1 % and 2 % of mid on each side scales
   with the market's size, has slow noise, thins when realised volatility rises, and is
   *eaten* by market orders; market makers refill what was eaten with a half-life of minutes.
   Beyond 2 % the book deepens faster (latent buyers appear as the move gets large).

5. **Liquidation cascades.** Within each minute the index path reaches a trough (and a peak).
   If the mark price at the trough is at or below the highest bucket of long liquidation
   prices, that bucket is liquidated: a market sell of its notional walks down the bids. The
   walk moves the perpetual price (the index follows by the arbitraged share, the rest opens
   a negative basis), which lowers the mark, which may reach the next bucket, and so on:
   the loop runs within the minute until the mark stays above the next bucket. The eaten
   depth and the jump in realised volatility leave the book thin for the next minutes, so a
   cascade can go on minute after minute. Shorts are squeezed the same way upwards against
   the asks. Liquidated notional is recorded by side, and open interest drops by it.

6. **The tape.** Volume is background turnover (rising with volatility) plus the crowd's
   opens and closes plus liquidations; the taker buy ratio counts opens of longs, closes of
   shorts and short liquidations as taker buys, so long liquidations push it down. The
   long/short ratio is leveraged long / short notional. The crowd's net opens and closes also
   walk the book a little (``liquidation.flow_impact``): piling in lifts the price, leaving
   pushes it back.

Why a cascade follows leverage build-up
---------------------------------------
A cascade keeps going while the long liquidation notional per 1 % of price just below the
mark exceeds what the bids can absorb per 1 % (the loop gain). Build-up raises that gain
on both sides, through the mechanism alone: a rising, greedy market opens many positions at
nearby prices and at higher leverage (a dense band of liquidation prices a few percent
below), the long book outgrows the shorts (rich premium and funding; funding erodes long
margins and lifts their liquidation prices), open interest grows faster than depth (thin
book relative to OI), and volatility thins the book further. Then an ordinary dip, a jump or
the crowd's own exit pushes the mark into the band. Whether it does in the next hour stays
random, so flushes are predictable in probability, not in time. On the default preset about
2 % of hours see long liquidations >= 0.3 % of open interest, and funding, OI growth, basis,
depth and distance below recent prices carry a strong signal for them.

Tuning
------
Everything is in :class:`SimConfig` (pydantic, every field validated): presets ``default``,
``calm``, ``leveraged-bull`` and ``crash-prone`` in :data:`PRESETS`, or a YAML/JSON file of
overrides read by :func:`load_config`. The levers of flush frequency and size:
``depth.depth_1pct_fraction`` (deeper book: fewer, smaller flushes),
``positioning.speculative_share`` and ``leverage.weights`` (more leveraged notional near
the price: more flushes), ``leverage.greed_tilt`` (how strongly build-up shifts the crowd to
high leverage: the build-up -> flush link), ``liquidation.index_transmission`` and
``premium.mark_weight`` (how much of a liquidation's impact reaches the mark: cascade gain),
``depth.vol_elasticity`` and ``depth.refill_halflife_minutes`` (how long a cascade keeps the
book thin), and the regimes' volatility, duration and jumps (how often the mark is pushed).

Safety: whatever a validated config asks for, the index stays within exp(+-3.5) of its start
and the premium within +-20 %, so extreme configs give absurd but finite, valid frames.

Symbols: BTC (~90k USD), ETH (~3k) and SOL (~150, high beta) have profiles (start price,
volatility, size); ``"BTC-USDT"``, ``"btc/usdt:usdt"`` and ``"BTCUSDT"`` all mean BTC. Any
other name gets a generic high-beta alt profile derived deterministically from the name, or
the profile a config's ``symbols`` table gives it.
"""

from features.sources.simulator.config import (
    PRESETS,
    SimConfig,
    SymbolProfile,
    base_asset,
    get_preset,
    load_config,
)
from features.sources.simulator.market import simulate, simulate_chunks, simulate_markets
from features.sources.simulator.stats import large_squeeze_hours, summary_stats

__all__ = [
    "PRESETS",
    "SimConfig",
    "SymbolProfile",
    "base_asset",
    "get_preset",
    "large_squeeze_hours",
    "load_config",
    "simulate",
    "simulate_chunks",
    "simulate_markets",
    "summary_stats",
]
