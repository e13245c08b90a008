"""What each feature means, in a trader's words: the text behind every driver.

One entry per feature of :data:`features.FEATURES` (a test checks that none is missing): what it
measures, its natural unit, how to read it, and a short phrase template. :func:`describe` turns a
raw feature value into plain words in that unit, for example::

    describe("funding_z_7d", 2.6, {"funding_rate": 0.00041})
    -> "funding 0.041 % per 8 h, 2.6 standard deviations above its 7-day mean"

Raw values are the pipeline's own (fractions, ratios, z-scores); :func:`natural_value` converts
them to the unit a trader reads (percent, percent per 8 hours, hours, x its mean, ...).

Adding a feature to a group module? Add its :class:`Description` to ``DESCRIPTIONS`` below
(kept next to ``FEATURES``; ``tests/features/test_descriptions.py`` fails until you do).

Templates: ``{v}`` is the natural value, ``{sv}`` the same with its sign, ``{av}`` its absolute
value; ``[above|below]`` picks the first word when the value is >= 0, the second otherwise.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# -- units: how a raw value becomes the number a trader reads ------------------------------


@dataclass(frozen=True)
class Unit:
    """A natural unit: its symbol as printed and the conversion from the pipeline's value."""

    symbol: str
    convert: Callable[[float], float]


def _same(x: float) -> float:
    return x


def _percent(x: float) -> float:
    return 100.0 * x


def _log_ratio_percent(x: float) -> float:
    return 100.0 * math.expm1(x)


PERCENT = Unit("%", _percent)
PERCENT_PER_8H = Unit("% per 8 h", _percent)
PERCENT_PER_YEAR = Unit("% a year", _percent)
PERCENT_OF_OI = Unit("% of open interest", _percent)
SIGMA = Unit("standard deviations", _same)
TIMES = Unit("x", _same)
HOURS = Unit("hours", _same)
CLOCK = Unit("on the 24-hour circle", _same)
CORRELATION = Unit("correlation", _same)
LOG_PERCENT = Unit("%", _log_ratio_percent)


@dataclass(frozen=True)
class Description:
    """One feature explained: what it measures, its unit, how to read it, a phrase template.

    ``context`` names another feature whose description is put first when its value is known
    (a z-score reads better after the level it is a z-score of).
    """

    subject: str
    measures: str
    unit: Unit
    reading: str
    template: str
    context: str | None = None


def _z(subject: str, of: str, days: int, context: str | None = None) -> Description:
    return Description(
        subject=subject,
        measures=f"{of} against its own {days}-day history: (value - {days}-day mean) / "
        f"{days}-day standard deviation",
        unit=SIGMA,
        reading="above +2 is unusually high for this market, below -2 unusually low",
        template=f"{{av}} standard deviations [above|below] its {days}-day mean",
        context=context,
    )


def _return(horizon: str) -> Description:
    return Description(
        subject="price",
        measures=f"the change of the close over the last {horizon}",
        unit=PERCENT,
        reading="a sharp fall is often the start of a cascade; a steady climb builds leverage",
        template=f"{{sv}} % over {horizon}",
    )


def _rvol(horizon: str) -> Description:
    return Description(
        subject="realised volatility",
        measures=f"the volatility of 1-bar log returns, scaled to {horizon}",
        unit=PERCENT,
        reading="high volatility brings liquidation prices within reach",
        template=f"{{v}} % over {horizon}",
    )


def _depth_rel(side: str, band: str) -> Description:
    return Description(
        subject=f"{side} depth within {band}",
        measures=f"order-book {side} depth within {band} of mid against its own 7-day mean",
        unit=TIMES,
        reading="below 1 means thinner than usual: less liquidity to absorb forced selling"
        if side == "bid"
        else "below 1 means thinner than usual on the ask side",
        template="{v} x its 7-day mean",
    )


def _imbalance(band: str) -> Description:
    return Description(
        subject=f"order-book imbalance within {band}",
        measures=f"(bid depth - ask depth) / (bid depth + ask depth) within {band} of mid",
        unit=PERCENT,
        reading="negative: more resting asks than bids, so little support below the price",
        template="{sv} % ([more bids|more asks])",
    )


def _oi_to_depth(band: str) -> Description:
    return Description(
        subject="open interest",
        measures=f"open interest in USD divided by bid depth within {band} of mid",
        unit=TIMES,
        reading="high: much leveraged exposure against little liquidity to absorb its unwinding",
        template=f"{{v}} x the bid depth within {band}",
    )


def _distance(subject: str, level: str) -> Description:
    return Description(
        subject=subject,
        measures=f"close / {level} - 1",
        unit=PERCENT,
        reading="stops and liquidations cluster just beyond recent highs and lows",
        template=f"{{av}} % [above|below] {level}",
    )


def _liq_band(band: str) -> Description:
    return Description(
        subject=f"estimated long liquidations within {band} below the price",
        measures=f"the modelled notional of long liquidation prices within {band} below the "
        "close (from open-interest build-up and common leverage), over open interest",
        unit=PERCENT_OF_OI,
        reading="high: a small drop would force-sell many longs at once",
        template=": {v} % of open interest",
    )


def _liq_flow(side: str, horizon: str) -> Description:
    return Description(
        subject=f"{side} liquidations over {horizon}",
        measures=f"USD of {side} positions liquidated over the last {horizon}, over open interest",
        unit=PERCENT_OF_OI,
        reading="long liquidations feed on themselves; a first wave often precedes a larger one"
        if side == "long"
        else "short liquidations mean a squeeze upwards, not a flush of longs",
        template=": {v} % of open interest",
    )


def _oi_growth(horizon: str) -> Description:
    return Description(
        subject="open interest",
        measures=f"the change of open interest (USD) over the last {horizon}",
        unit=PERCENT,
        reading="fast growth means new leverage entering the market",
        template=f"{{sv}} % over {horizon}",
    )


DESCRIPTIONS: dict[str, Description] = {
    # funding
    "funding_rate": Description(
        subject="funding",
        measures="the perpetual's funding rate: what longs pay shorts every 8 hours",
        unit=PERCENT_PER_8H,
        reading="0.01 % per 8 h is the usual baseline; well above it means a crowded long side",
        template="{v} % per 8 h",
    ),
    "funding_change_8h": Description(
        subject="funding",
        measures="the change of the funding rate over the last 8 hours",
        unit=PERCENT_PER_8H,
        reading="a fast rise means longs are piling in",
        template="{sv} % per 8 h compared with 8 h ago",
    ),
    "funding_change_24h": Description(
        subject="funding",
        measures="the change of the funding rate over the last 24 hours",
        unit=PERCENT_PER_8H,
        reading="a fast rise means longs are piling in",
        template="{sv} % per 8 h compared with 24 h ago",
    ),
    "funding_z_7d": _z("funding", "the funding rate", 7, context="funding_rate"),
    "funding_z_30d": _z("funding", "the funding rate", 30, context="funding_rate"),
    "funding_cum_24h": Description(
        subject="funding paid",
        measures="the funding longs paid over the last 24 hours (three 8-hour payments)",
        unit=PERCENT,
        reading="a high cost of staying long pushes weak longs out",
        template="{v} % of the position over 24 h",
    ),
    "funding_annualized": Description(
        subject="funding",
        measures="the funding rate expressed per year (x 3 payments a day x 365)",
        unit=PERCENT_PER_YEAR,
        reading="tens of percent a year means longs pay heavily to hold",
        template="{v} % a year",
    ),
    "funding_positive_hours": Description(
        subject="funding",
        measures="hours since funding was last negative (capped at 30 days)",
        unit=HOURS,
        reading="a long run of positive funding means leverage has been building for long",
        template="positive for {v} hours in a row",
    ),
    # open interest
    "oi_growth_1h": _oi_growth("1 h"),
    "oi_growth_4h": _oi_growth("4 h"),
    "oi_growth_24h": _oi_growth("24 h"),
    "oi_z_7d": _z("open interest", "the log of open interest", 7),
    "oi_coin_growth_24h": Description(
        subject="open interest in coins",
        measures="the 24-hour change of open interest with the price move divided out",
        unit=PERCENT,
        reading="growth in coin terms is new positions, not just a higher price",
        template="{sv} % over 24 h",
    ),
    "oi_price_corr_24h": Description(
        subject="open interest",
        measures="the correlation of hourly open-interest changes with price changes over 24 h",
        unit=CORRELATION,
        reading="positive: open interest rises on up-moves, i.e. longs are piling in",
        template="[moves with|moves against] the price (correlation {v} over 24 h)",
    ),
    "oi_to_volume_24h": Description(
        subject="open interest",
        measures="open interest over the volume traded in the last 24 hours",
        unit=TIMES,
        reading="high: positions are large against what the market trades, hard to unwind",
        template="{v} x the 24 h volume",
    ),
    "oi_drawdown_24h": Description(
        subject="open interest",
        measures="open interest / its 24-hour high - 1",
        unit=PERCENT,
        reading="a sudden drop means positions are being closed or liquidated",
        template="{av} % below its 24 h high",
    ),
    "oi_drawdown_7d": Description(
        subject="open interest",
        measures="open interest / its 7-day high - 1",
        unit=PERCENT,
        reading="near 0: leverage is at its weekly high",
        template="{av} % below its 7-day high",
    ),
    # basis
    "premium": Description(
        subject="perpetual",
        measures="perpetual close / index price - 1 (the premium, or basis)",
        unit=PERCENT,
        reading="a wide positive premium means eager longs; its collapse often starts a flush",
        template="trades {av} % [above|below] the index",
    ),
    "premium_z_7d": _z("perpetual premium", "the premium over the index", 7, context="premium"),
    "premium_change_1h": Description(
        subject="perpetual premium",
        measures="the change of the premium over the index in the last hour",
        unit=PERCENT,
        reading="a falling premium means longs are leaving",
        template="{sv} % points over 1 h",
    ),
    "mark_premium": Description(
        subject="mark price",
        measures="mark price / index price - 1",
        unit=PERCENT,
        reading="liquidations are triggered on the mark price",
        template="{av} % [above|below] the index",
    ),
    # depth
    "depth_bid_1pct_rel_7d": _depth_rel("bid", "1 %"),
    "depth_ask_1pct_rel_7d": _depth_rel("ask", "1 %"),
    "depth_bid_2pct_rel_7d": _depth_rel("bid", "2 %"),
    "depth_ask_2pct_rel_7d": _depth_rel("ask", "2 %"),
    "depth_imbalance_1pct": _imbalance("1 %"),
    "depth_imbalance_2pct": _imbalance("2 %"),
    "depth_bid_1pct_change_1h": Description(
        subject="bid depth within 1 %",
        measures="the change of bid depth within 1 % of mid over the last hour",
        unit=PERCENT,
        reading="bids pulled just before a drop leave nothing to catch it",
        template="{sv} % over 1 h",
    ),
    "depth_bid_1pct_change_24h": Description(
        subject="bid depth within 1 %",
        measures="the change of bid depth within 1 % of mid over the last 24 hours",
        unit=PERCENT,
        reading="thinning bids mean less liquidity to absorb forced selling",
        template="{sv} % over 24 h",
    ),
    "oi_to_bid_depth_1pct": _oi_to_depth("1 %"),
    "oi_to_bid_depth_2pct": _oi_to_depth("2 %"),
    # key levels
    "round_distance": Description(
        subject="price",
        measures="distance from the close to the nearest round number, relative to the price",
        unit=PERCENT,
        reading="orders and stops cluster at round numbers",
        template="{v} % from the nearest round number",
    ),
    "round_below_distance": Description(
        subject="price",
        measures="distance from the close down to the round number below, relative to the price",
        unit=PERCENT,
        reading="close above a round number: stops sit just below it",
        template="{v} % above the round number below",
    ),
    "dist_high_24h": _distance("price", "its 24 h high"),
    "dist_low_24h": _distance("price", "its 24 h low"),
    "dist_high_7d": _distance("price", "its 7-day high"),
    "dist_low_7d": _distance("price", "its 7-day low"),
    "dist_prev_day_low": _distance("price", "the previous day's low"),
    "liq_long_within_1pct": _liq_band("1 %"),
    "liq_long_within_2pct": _liq_band("2 %"),
    "liq_long_within_5pct": _liq_band("5 %"),
    # price and flow
    "ret_5m": _return("5 min"),
    "ret_15m": _return("15 min"),
    "ret_1h": _return("1 h"),
    "ret_4h": _return("4 h"),
    "ret_24h": _return("24 h"),
    "rvol_4h": _rvol("4 h"),
    "rvol_24h": _rvol("24 h"),
    "rvol_7d": _rvol("7 days"),
    "range_1h": Description(
        subject="1 h range",
        measures="(high - low) over the last hour, relative to the close",
        unit=PERCENT,
        reading="wide ranges reach liquidation prices",
        template=": {v} % of the price",
    ),
    "drawdown_30d": Description(
        subject="price",
        measures="close / 30-day high - 1",
        unit=PERCENT,
        reading="near 0: at the monthly high, where leverage is usually highest",
        template="{av} % below its 30-day high",
    ),
    "taker_sell_share_1h": Description(
        subject="taker selling",
        measures="the share of volume over the last hour that takers sold",
        unit=PERCENT,
        reading="above 50 % means aggressive selling",
        template=": {v} % of volume over 1 h",
    ),
    "taker_sell_share_4h": Description(
        subject="taker selling",
        measures="the share of volume over the last 4 hours that takers sold",
        unit=PERCENT,
        reading="above 50 % means aggressive selling",
        template=": {v} % of volume over 4 h",
    ),
    "volume_surge": Description(
        subject="volume",
        measures="mean hourly volume over the last hour against its 7-day mean",
        unit=TIMES,
        reading="a surge often comes with forced selling",
        template="{v} x its 7-day mean",
    ),
    "liq_long_1h_oi": _liq_flow("long", "1 h"),
    "liq_long_24h_oi": _liq_flow("long", "24 h"),
    "liq_short_1h_oi": _liq_flow("short", "1 h"),
    "liq_short_24h_oi": _liq_flow("short", "24 h"),
    "liq_long_share_24h": Description(
        subject="long liquidations",
        measures="long liquidations as a share of all liquidations over 24 h",
        unit=PERCENT,
        reading="high: the pain is on the long side",
        template=": {v} % of all liquidations over 24 h",
    ),
    "long_short_ratio": Description(
        subject="long/short account ratio",
        measures="accounts net long over accounts net short (exchange-reported)",
        unit=TIMES,
        reading="well above 1: a crowded long side",
        template="{v}",
    ),
    "long_short_ratio_z_7d": _z("long/short account ratio", "the log of the long/short ratio", 7),
    "oi_to_volume_24h_rel_7d": Description(
        subject="open interest over 24 h volume",
        measures="open interest / 24 h volume, against its own 7-day mean",
        unit=TIMES,
        reading="above 1: positions are large for what the market trades, more than usual",
        template="{v} x its 7-day mean",
    ),
    "oi_to_bid_depth_1pct_rel_30d": Description(
        subject="open interest over bid depth within 1 %",
        measures="open interest / bid depth within 1 %, against its own 30-day mean",
        unit=TIMES,
        reading="above 1: more leverage per dollar of support than usual",
        template="{v} x its 30-day mean",
    ),
    # calendar: when the forecast window starts
    "hour_of_day_sin": Description(
        subject="hour of day",
        measures="sine of the UTC hour at which the forecast window starts, on a 24-hour circle",
        unit=CLOCK,
        reading="with its cosine, where the window falls in the day: squeezes start more "
        "often around the US equity open (13:00-15:00 UTC)",
        template=": sine {sv} of the UTC hour on a 24-hour circle",
    ),
    "hour_of_day_cos": Description(
        subject="hour of day",
        measures="cosine of the UTC hour at which the forecast window starts, on a 24-hour circle",
        unit=CLOCK,
        reading="with its sine, where the window falls in the day",
        template=": cosine {sv} of the UTC hour on a 24-hour circle",
    ),
    # cascade: liquidations already happening, the price falling through volatility
    "liq_long_bar_oi": _liq_flow("long", "the last bar"),
    "liq_long_4h_oi": _liq_flow("long", "4 h"),
    "liq_long_7d_oi": Description(
        subject="long liquidations",
        measures="mean hourly USD of long liquidations over 7 days, over open interest",
        unit=PERCENT_OF_OI,
        reading="the usual hourly level of forced long selling for this market",
        template=": {v} % of open interest an hour on average over 7 days",
    ),
    "liq_long_decay_oi": Description(
        subject="recent long liquidations",
        measures="a decayed hourly rate of long liquidations (mean of the 1, 4, 12 and 24 h "
        "rates), over open interest",
        unit=PERCENT_OF_OI,
        reading="high: a cascade is under way or has just been",
        template=": {v} % of open interest an hour (decayed rate)",
    ),
    "liq_long_1h_rel_7d": Description(
        subject="long liquidations over 1 h",
        measures="long liquidations in the last hour against their 7-day hourly mean",
        unit=TIMES,
        reading="well above 1: forced selling far above usual; cascades cluster",
        template="{v} x their 7-day mean",
    ),
    "liq_long_1h_rel_30d": Description(
        subject="long liquidations over 1 h",
        measures="long liquidations in the last hour against their 30-day hourly mean",
        unit=TIMES,
        reading="well above 1: forced selling far above usual; cascades cluster",
        template="{v} x their 30-day mean",
    ),
    "liq_long_4h_rel_7d": Description(
        subject="long liquidations over 4 h",
        measures="long liquidations in the last 4 hours against their 7-day mean",
        unit=TIMES,
        reading="well above 1: forced selling far above usual",
        template="{v} x their 7-day mean",
    ),
    "liq_long_max_1h_24h_oi": Description(
        subject="largest hour of long liquidations in 24 h",
        measures="the largest 1-hour sum of long liquidations in the last 24 h, over open interest",
        unit=PERCENT_OF_OI,
        reading="a large recent hour: 20 of the 50 largest hours followed another large one",
        template=": {v} % of open interest",
    ),
    "liq_long_accel_1h_oi": Description(
        subject="long liquidations",
        measures="the change of 1-hour long liquidations against the hour before, over open "
        "interest",
        unit=PERCENT_OF_OI,
        reading="positive: liquidations are accelerating",
        template="{sv} % of open interest compared with the hour before",
    ),
    "liq_long_1h_to_bid_depth": Description(
        subject="long liquidations over 1 h",
        measures="long liquidations in the last hour over bid depth within 1 % of mid",
        unit=TIMES,
        reading="above 1: forced selling larger than the liquidity resting to absorb it",
        template="{v} x the bid depth within 1 %",
    ),
    "liq_long_x_drawdown": Description(
        subject="liquidations while falling",
        measures="log(1 + long liquidations vs their 7-day mean) x the drawdown from the "
        "24 h high in volatility units",
        unit=TIMES,
        reading="high: liquidations keep coming while the price sits below its highs",
        template="score {v}",
    ),
    "drawdown_4h_vol": Description(
        subject="price",
        measures="log(close / 4 h high), in units of the 7-day volatility scaled to 4 h",
        unit=SIGMA,
        reading="below -2: an unusually violent drop for this market",
        template="{av} standard deviations below its 4 h high",
    ),
    "drawdown_24h_vol": Description(
        subject="price",
        measures="log(close / 24 h high), in units of the 7-day volatility scaled to 24 h",
        unit=SIGMA,
        reading="below -2: an unusually violent drop for this market",
        template="{av} standard deviations below its 24 h high",
    ),
    "ret_1h_vol": Description(
        subject="price",
        measures="the 1 h log return in units of the 7-day volatility scaled to 1 h",
        unit=SIGMA,
        reading="a 3-sigma drop means the same on BTC and on an alt",
        template="[up|down] {av} standard deviations over 1 h",
    ),
    "ret_4h_vol": Description(
        subject="price",
        measures="the 4 h log return in units of the 7-day volatility scaled to 4 h",
        unit=SIGMA,
        reading="a 3-sigma drop means the same on BTC and on an alt",
        template="[up|down] {av} standard deviations over 4 h",
    ),
    "rvol_4h_to_7d": Description(
        subject="volatility",
        measures="volatility of 1-bar returns over 4 h against that over 7 days",
        unit=TIMES,
        reading="above 1: volatility is expanding",
        template="{v} x its 7-day level",
    ),
    "long_short_ratio_change_24h": Description(
        subject="long/short account ratio",
        measures="the change of the long/short account ratio over 24 hours",
        unit=LOG_PERCENT,
        reading="a rising ratio means more accounts turning long",
        template="{sv} % over 24 h",
    ),
}


def description(feature: str) -> Description:
    """The description of ``feature`` (KeyError names the feature and where to add it)."""
    try:
        return DESCRIPTIONS[feature]
    except KeyError:
        raise KeyError(
            f"feature {feature!r} has no description: add one to features/descriptions.py"
        ) from None


MAX_NATURAL = 1e15
"""Beyond this magnitude in its natural unit no feature value is a market reading (a
quadrillion USD, percent or x; float64 stops counting whole numbers at 9e15)."""


def natural_value(feature: str, value: float) -> float:
    """``value`` in the feature's natural unit (percent, percent per 8 h, hours, x, ...).

    A value too large to convert (``exp`` of a log ratio of 1000) is +-inf, never an error.
    """
    return converted(description(feature).unit.convert, float(value))


def converted(convert: Callable[[float], float], value: float) -> float:
    """:func:`natural_value` with the unit's converter already looked up (batch scoring keeps
    one per feature): +-inf for a value too large to convert, never an OverflowError."""
    try:
        return convert(value)
    except OverflowError:
        return math.copysign(math.inf, value)


def plausible(feature: str, value: float) -> bool:
    """Whether ``value`` can be a reading of ``feature``: finite and within ``MAX_NATURAL``
    in its natural unit (the API refuses the others, naming the feature)."""
    return plausible_natural(natural_value(feature, value))


def plausible_natural(natural: float) -> bool:
    """:func:`plausible` for a value already in its natural unit: the one rule, for callers
    that need the natural value anyway (a driver prints it) and convert it once."""
    return math.isfinite(natural) and abs(natural) <= MAX_NATURAL


def unit(feature: str) -> str:
    """The natural unit's symbol, as printed after a natural value."""
    return description(feature).unit.symbol


def number(x: float, digits: int = 2) -> str:
    """``x`` with about ``digits`` significant digits, never in scientific notation."""
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:.{decimals}f}"


_CHOICE = re.compile(r"\[([^|\]]*)\|([^\]]*)\]")


@functools.cache
def _choose(template: str, positive: bool) -> str:
    """The template with each [positive|negative] choice made (cached: batch scoring words
    millions of drivers)."""
    return _CHOICE.sub(lambda m: m.group(1) if positive else m.group(2), template)


def _phrase(template: str, natural: float) -> str:
    text = _choose(template, natural >= 0)
    shown = number(natural)
    signed = shown if shown.startswith("-") else f"+{shown}"
    # the absolute value's digits only for the templates that show them (most do not)
    absolute = number(abs(natural)) if "{av}" in text else ""
    return text.format(v=shown, sv=signed, av=absolute)


def describe(
    feature: str, value: float | None, row: Mapping[str, float | None] | None = None
) -> str:
    """Plain words for one feature value, in its natural unit.

    ``row`` (the other features of the same prediction) adds context where it helps: a
    z-score is preceded by the level it measures ("funding 0.041 % per 8 h, 2.6 standard
    deviations above its 7-day mean").
    """
    entry = description(feature)
    if value is None or not math.isfinite(float(value)):
        return f"{entry.subject}: no value (its inputs are missing)"
    natural = natural_value(feature, float(value))  # once: plausible() reads the same number
    if not plausible_natural(natural):
        return f"{entry.subject}: {float(value):.6g}, beyond any plausible value"
    return _described(entry, natural, row)


def describe_natural(
    feature: str, natural: float, row: Mapping[str, float | None] | None = None
) -> str:
    """:func:`describe` of a value the caller already converted to its natural unit and found
    plausible (a driver has both): the same words, without converting it again."""
    return _described(description(feature), natural, row)


def _described(entry: Description, natural: float, row: Mapping[str, float | None] | None) -> str:
    phrase = _phrase(entry.template, natural)
    context = row.get(entry.context) if row is not None and entry.context else None
    if context is not None and math.isfinite(float(context)):
        return f"{describe(entry.context, context)}, {phrase}"  # type: ignore[arg-type]
    return f"{entry.subject}{'' if phrase.startswith(':') else ' '}{phrase}"


__all__ = [
    "DESCRIPTIONS",
    "MAX_NATURAL",
    "Description",
    "Unit",
    "converted",
    "describe",
    "describe_natural",
    "description",
    "natural_value",
    "number",
    "plausible",
    "plausible_natural",
    "unit",
]
