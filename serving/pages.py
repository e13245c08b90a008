"""The trader's pages (/, /symbol/{symbol}, /backtest/{symbol}): routes mounted by the service."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
