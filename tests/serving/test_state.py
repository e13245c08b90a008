"""The served-symbol table: which label a prediction metric gets."""

from __future__ import annotations

from typing import Any

from serving.state import UNLISTED, ServiceState


def test_metric_label_is_bounded_when_a_model_answers_any_symbol(predictor: Any) -> None:
    """A model that names no symbol answers whatever a client sends; the metric label must not
    follow the client, or random symbols grow /metrics and memory without bound."""
    state = ServiceState()
    state.replace({"BTC/USDT": predictor, "*": predictor})
    assert state.metric_label("btc/usdt") == "BTCUSDT"
    labels = {state.metric_label(f"RANDOM{i}") for i in range(1000)}
    assert labels == {UNLISTED}
