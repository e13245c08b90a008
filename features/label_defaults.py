"""The default label of ``flushrisk quickstart``, ``train`` and ``features build``: long
liquidations of at least $5M within the next hour on BTC (``LABEL_USD_BTC`` of the simulator's
config), scaled by market size elsewhere.

Why this one. It is the training benchmark's label (``benchmarks/bench_training.py``) and the
form of the real evaluation (a USD threshold, 1 h): on the default simulator preset $5M fires
in about 5.4 % of BTC hours, the real data's base rate at $5M (it was $1.75M before the simulator
stopped drifting and its liquidation scale was re-derived once by base rate). The older default, 0.30 % of open
interest, fires in only 0.5-1 % of simulated hours: too few positives in a year for any model to
beat logistic regression clearly. One definition, so the quickstart, the CLI and the benchmark
cannot drift apart.

Other symbols. A fixed USD threshold would be rare on a small market and common on a large one,
so it is scaled by the symbol's market size (its typical open interest in the simulator's
profile; an unknown name gets the generic alt profile), keeping the label about as common.
"""

from __future__ import annotations

from features.sources.simulator.config import LABEL_USD_BTC as DEFAULT_BTC_THRESHOLD_USD
from features.sources.simulator.config import SimConfig


def default_threshold_usd(symbol: str, config: SimConfig | None = None) -> float:
    """The default label's USD threshold for ``symbol`` (3 significant digits), scaled by the
    market sizes of ``config`` (the default simulator profile when None)."""
    config = config if config is not None else SimConfig()
    share = config.profile(symbol).market_size_usd / config.profile("BTC").market_size_usd
    return float(f"{DEFAULT_BTC_THRESHOLD_USD * share:.3g}")


def resolve_threshold_usd(
    kind: str, threshold_usd: float | None, threshold_oi_fraction: float | None, symbol: str
) -> float | None:
    """The USD threshold a command uses: the one given; none for the proxy label or when a share
    of open interest was asked for; otherwise the default label's for ``symbol``."""
    if kind != "liquidation" or threshold_usd is not None or threshold_oi_fraction is not None:
        return threshold_usd
    return default_threshold_usd(symbol)


__all__ = ["DEFAULT_BTC_THRESHOLD_USD", "default_threshold_usd", "resolve_threshold_usd"]
