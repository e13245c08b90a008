"""A bare BentoML service that echoes a features request: the latency floor of the stack.

``benchmarks/bench_serving.py`` serves it beside the real service and compares p50s: whatever
the echo costs (HTTP, JSON parsing into pydantic, BentoML's middlewares) the real service pays
too, so the difference is what FlushRisk itself adds (row building, booster, explanation).
Same API style as the real service (async method, pydantic input spec), no model, no guard.
"""

from __future__ import annotations

from typing import Any

import bentoml
from pydantic import BaseModel, ConfigDict


class EchoRequest(BaseModel):
    """The shape of a features request, parsed the same way."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    symbol: str
    features: dict[str, float | None] | None = None
    bars: list[dict[str, Any]] | None = None


class EchoResponse(BaseModel):
    symbol: str
    count: int


@bentoml.service(name="flushrisk-echo", workers=1, metrics={"enabled": True})
class EchoService:
    """Answers with the symbol and how many values it received."""

    @bentoml.api(input_spec=EchoRequest, route="/predict")
    async def predict(self, **fields: Any) -> EchoResponse:
        values = fields.get("features") or fields.get("bars") or []
        return EchoResponse(symbol=fields["symbol"], count=len(values))


__all__ = ["EchoRequest", "EchoResponse", "EchoService"]
