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
   jump rate (news moves the price a few times a day in any regime; stressed: high
   volatility, mostly-negative jumps). On top, log volatility follows a slow mean-reverting
   process (stochastic volatility, clustering for days), jumps come more often when it is
   high, and a daily cycle makes the busiest UTC hours move more (and bring more news), so
   that |returns| correlate with the same hour a day later as in real data. The index keeps
   its scale for years: every jump is compensated by a drift of minus its expected size
   (mostly-negative news gives a fat left tail, not a falling market), the regimes' drifts
   are shifted so their long-run average is the preset's ``regimes.mean_drift_per_year``
   (0), the index impact of liquidations and of the crowd's net flow fades with a half-life
   of days (``liquidation.impact_halflife_hours``), and a weak pull to the start level
   bounds the rest. Open interest is a number of coins, so OI and liquidations in USD scale
   with price and with the market's size, and a USD label keeps its base rate. With several symbols, each index also
   follows the market-factor symbol's (BTC's) minute returns, cascades included, with a
   beta above one for alts (see "Symbols" below).

2. **A population of leveraged positions.** Every minute new longs and shorts open at the
   perpetual's price. Their intensity rises with the recent trend (momentum chasing), with a
   slow sentiment process and the regime's mood, and falls as funding gets expensive for
   their side. Their effective leverage is drawn from a ladder 2x .. 200x (most mass at
   5x-25x; beyond the exchange cap for cross-margin accounts whose equity is mostly used), so
   that new liquidation prices sit at every distance below the price all the time: some long
   is liquidated nearly every hour. Greed (sentiment + trend) tilts new notional towards high
   leverage (weakly in the default preset), and high realised volatility tilts both sides
   towards low leverage (traders and margin rules de-risk). A position's liquidation
   price follows from its entry, leverage and the maintenance margin (isolated margin, linear
   contract): long ``entry * (1 - 1/lev + mm)``, short ``entry * (1 + 1/lev - mm)``. Positions
   are aggregated, in coins, in buckets of liquidation price (0.1 % wide in log price).
   Positions close voluntarily at a steady rate (faster in stress). Open interest is the
   open notional: leveraged longs + leveraged shorts + a hedged (cash-and-carry) book that
   follows market participation within the hour (a random process with a half-life of days:
   money entering or leaving the market for its own reasons) and grows when funding is rich;
   so OI moves without funding moving, and churns hour to hour as on real exchanges (0.5 % of
   its coins an hour, as on real BTC), which keeps an OI drop from being proof of a flush.

3. **Premium, basis and funding.** The perpetual trades at the index times ``exp(premium)``.
   The premium mean-reverts within minutes towards a level that is mostly flat: a base
   slightly below spot plus a slow demand component of its own (basis traders, hedgers), and
   only a trace of net leveraged demand in the default preset (``premium.per_imbalance``;
   the build-up presets make a crowded long book mean a rich basis). Funding is the exchange formula: the premium averaged over the
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
   long/short account ratio is (leveraged long / short notional) ** 0.4
   (``positioning.account_ratio_elasticity``: the favoured side draws larger positions),
   which keeps it in the 0.5-3 exchanges show. The crowd's net opens and closes also
   walk the book a little (``liquidation.flow_impact``): piling in lifts the price, leaving
   pushes it back.

What raises the flush hazard
---------------------------
A cascade keeps going while the long liquidation notional per 1 % of price just below the
mark exceeds what the bids can absorb per 1 % (the loop gain). In the default preset, as in
real hourly data, what raises the hazard of the next hour is a cascade already under way
(the book is eaten and thin, volatility is high, jumps come more often) and a drawdown (the
price has fallen into the liquidation prices of positions opened higher up). Rich funding and
fast open-interest growth do *not* raise it: funding is anchored to a mostly flat premium,
OI follows participation, and a rally leaves the recent longs' liquidation prices far below.
Whether a flush comes in the next hour stays random, so flushes are predictable in
probability, not in time. The default preset is judged seed by seed on the stylised facts
of :mod:`.realism` (flush hazard ratios included) against every real reference; about 1 %
of hours see long liquidations >= 0.3 % of open interest, about 5 % see >= $5M on BTC (as
on real BTC), and BTC's hourly volatility is about 0.45 a year. ``leveraged-bull`` and ``crash-prone`` keep
the build-up story on purpose (greed tilts new notional to high leverage, the premium
follows the long crowd): there rich funding and OI growth raise the hazard 2-3x.
:mod:`.calibrate` fits the main parameters to a user's own market (``--calibrate-to``).

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
book thin), ``leverage.vol_aversion`` (de-risking in a wild market: shorter cascade
clusters), and the regimes' volatility, duration and jumps (how often the mark is pushed).
Realism levers: ``volatility.intraday_amplitude`` and ``volatility.jump_vol_elasticity``
(clustering at 24 h and at short lags), ``premium.base`` and ``premium.demand_std``
(funding level and spread), ``positioning.participation_std`` (OI growth that is not
leverage), and the ladder's weights beyond 50x (the background of small liquidations).

Safety: whatever a validated config asks for, the index stays within exp(+-3.5) of its start
and the premium within +-20 %, so extreme configs give absurd but finite, valid frames.

Symbols: BTC (~90k USD), ETH (~3k) and SOL (~150, high beta) have profiles (start price,
volatility, size, correlation with the market factor); ``"BTC-USDT"``, ``"btc/usdt:usdt"``
and ``"BTCUSDT"`` all mean BTC. Any other name gets a generic high-beta alt profile derived
deterministically from the name, or the profile a config's ``symbols`` table gives it.
:func:`simulate_markets` simulates several symbols together: each follows BTC's index
(``SimConfig.market_factor``; simulated with the same seed even when not asked for) with
beta = correlation x vol / BTC vol (ETH ~1.3, SOL ~1.5 measured hourly), keeping its own
shocks scaled so its volatility stays its profile's, and its own crowd, book and cascades:
a BTC flush drops the alts, which can set off theirs. BTC's frame is exactly its single
market's; one symbol alone is exactly :func:`simulate`.
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
