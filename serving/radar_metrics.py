"""The radar's Prometheus metrics, shared by the watcher process and the service.

Created through ``bentoml.metrics`` so that inside the service they land in BentoML's
multiprocess registry (one series per symbol whatever the worker count: gauges keep the most
recent value), and in the watcher in prometheus_client's default registry, which
``flushrisk watch --metrics-port`` exposes.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import bentoml.metrics as _metrics

PROBABILITY = _metrics.Gauge(
    name="flushrisk_probability",
    documentation="Latest calibrated long-squeeze probability published by the radar, per symbol",
    labelnames=["symbol"],
    multiprocess_mode="mostrecent",
)
DATA_AGE = _metrics.Gauge(
    name="flushrisk_data_age_seconds",
    documentation="Seconds since the close of the newest bar of a symbol (radar clock)",
    labelnames=["symbol"],
    multiprocess_mode="mostrecent",
)
STALE = _metrics.Gauge(
    name="flushrisk_stale",
    documentation="1 when a symbol's data is older than two bars (its score is not current)",
    labelnames=["symbol"],
    multiprocess_mode="mostrecent",
)
ALERTING = _metrics.Gauge(
    name="flushrisk_alerting",
    documentation="1 when a symbol's latest score is an alert by its model's rule (at or above "
    "the model's alert level and, under a calm-hour rule, no squeeze of its label running), "
    "else 0: what the radar's own alerts follow",
    labelnames=["symbol"],
    multiprocess_mode="mostrecent",
)
COLLECTOR_ERRORS = _metrics.Counter(
    name="flushrisk_collector_errors",
    documentation="Collector errors (network, exchange, rate limit, websocket drop, store)",
    labelnames=["symbol", "kind"],
)
GAPS = _metrics.Counter(
    name="flushrisk_gap_bars",
    documentation="Bars that could not be completed and were recorded as gaps",
    labelnames=["symbol"],
)
COLLECTOR_ERRORS_SEEN = _metrics.Gauge(
    name="flushrisk_collector_errors_seen",
    documentation="Collector errors counted by the watcher since it started (from its snapshot)",
    multiprocess_mode="mostrecent",
)
GAPS_SEEN = _metrics.Gauge(
    name="flushrisk_gap_bars_seen",
    documentation="Gap bars counted by the watcher since it started (from its snapshot)",
    multiprocess_mode="mostrecent",
)
DATA_MODE = _metrics.Gauge(
    name="flushrisk_data_mode",
    documentation="1 for where the radar's data come from now: live (an exchange), replay (a "
    "stored history replayed) or simulated (the simulator); 0 for the others",
    labelnames=["mode"],
    multiprocess_mode="mostrecent",
)
_MODES = ("live", "replay", "simulated")


def set_mode(mode: str | None) -> None:
    """Mark the radar's data source: a replayed or simulated score never passes for live."""
    for name in _MODES:
        DATA_MODE.labels(mode=name).set(1.0 if name == (mode or "live") else 0.0)


class CollectorCounters:
    """The live collector's gaps and errors as the Prometheus counters above.

    Handed to :func:`features.sources.live.collector.run_live` by ``flushrisk watch``: the
    collector lives on the data floor and does not import the service's metrics itself.
    """

    def gaps(self, symbol: str, bars: int) -> None:
        """Count ``bars`` gap bars of ``symbol``."""
        GAPS.labels(symbol=symbol).inc(bars)

    def error(self, symbol: str, kind: str) -> None:
        """Count one collector error of ``kind`` for ``symbol``."""
        COLLECTOR_ERRORS.labels(symbol=symbol, kind=kind).inc()


COLLECTOR = CollectorCounters()
