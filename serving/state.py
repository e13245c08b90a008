"""What the running service serves: one loaded Predictor per symbol, shared by every route.

The BentoML API methods, the model card, the radar API and the pages all read
``STATE.predictors`` (symbol -> :class:`serving.predictor.Predictor`). A pooled model serves
several symbols: each of them maps to the same Predictor. :meth:`ServiceState.replace` swaps the
whole mapping at once (a reload), so a request sees either the old or the new set of models,
never half of each.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serving.predictor import Predictor


def symbol_key(symbol: str) -> str:
    """The key a symbol is served under: upper case, letters and digits only (BTC/USDT -> BTCUSDT)."""
    upper = symbol.upper()
    if upper.isalnum():  # the usual symbol (every character kept): no pass per character
        return upper
    return "".join(ch for ch in upper if ch.isalnum())


@dataclass
class ServiceState:
    """The predictors this process serves, by symbol key (see :func:`symbol_key`)."""

    predictors: dict[str, Predictor] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def replace(self, predictors: dict[str, Predictor]) -> None:
        """Serve exactly ``predictors`` from now on (keys normalised with symbol_key)."""
        fresh = {symbol_key(s): p for s, p in predictors.items()}
        with self._lock:
            self.predictors = fresh

    def get(self, symbol: str) -> Predictor | None:
        """The predictor serving ``symbol``, or None."""
        return self.predictors.get(symbol_key(symbol))

    def metric_label(self, symbol: str) -> str:
        """The ``symbol`` label of a prediction metric: the key of a symbol served by name, else
        ``UNLISTED``. A model that names no symbol answers any symbol a client sends; labelling
        by the request would let any client grow the metric's label sets without bound."""
        key = symbol_key(symbol)
        return key if key and key in self.predictors else UNLISTED

    @property
    def symbols(self) -> list[str]:
        return sorted(self.predictors)

    @property
    def loaded(self) -> bool:
        return bool(self.predictors)


STATE = ServiceState()
UNLISTED = "unlisted"

__all__ = ["STATE", "UNLISTED", "ServiceState", "symbol_key"]
