"""The radar's JSON API (GET /risk, GET /risk/{symbol}, scores): routes mounted by the service."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
