"""The OpenAPI description of the routes beside the prediction API: the radar, pages and probes.

BentoML documents only its ``@bentoml.api`` methods; the radar's JSON (``serving.radar_api``),
the pages (``serving.pages``) and BentoML's own probes are plain routes it does not list.
:func:`serving.openapi.openapi_document` adds these paths and schemas, so ``GET /docs.json``
names every route a client can call. The schemas name the fields a client relies on and leave
objects open (``additionalProperties``), so a new field is never a broken contract; the tests
check real answers against them.
"""

from __future__ import annotations

from typing import Any

_NUMBER_OR_NULL = {"type": ["number", "null"]}
_STRING_OR_NULL = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_SERIES = {"type": "array", "items": _NUMBER_OR_NULL}
_RISK_LEVEL = {
    "type": ["string", "null"],
    "description": "low / elevated / high / extreme, by the thresholds fixed at training",
}
_ALERT_RULE = {
    "type": ["object", "null"],
    "description": "when the model alerts (serving.alert_rule): from `level`, and only after "
    "`calm_hours` without a squeeze of its label (null: in every hour, a model saved before the "
    "onset rule); `text`: the rule in words",
    "properties": {
        "level": {"type": "string"},
        "calm_hours": _NUMBER_OR_NULL,
        "text": {"type": "string"},
    },
}
_MODE = {
    "type": "string",
    "enum": ["live", "replay", "simulated"],
    "description": "where the scored data comes from: an exchange, a replayed store, or the "
    "simulator",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


SCHEMAS: dict[str, Any] = {
    "RadarDriver": {
        "type": "object",
        "title": "RadarDriver",
        "description": "One reason behind a score, in words and natural units",
        "required": ["feature", "text"],
        "properties": {
            "feature": {"type": "string"},
            "text": {"type": "string", "description": "the reason as a trader's note"},
            "value": _NUMBER_OR_NULL,
            "unit": _STRING_OR_NULL,
            "contribution": {
                **_NUMBER_OR_NULL,
                "description": "the change in probability this feature caused",
            },
            "contribution_log_odds": _NUMBER_OR_NULL,
        },
    },
    "RadarWarning": {
        "type": "object",
        "title": "RadarWarning",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    },
    "RiskRow": {
        "type": "object",
        "title": "RiskRow",
        "description": "One watched symbol's latest published score, judged on the radar clock",
        "required": ["symbol", "bar", "probability", "risk_level", "as_of", "stale", "warnings"],
        "properties": {
            "symbol": {"type": "string"},
            "bar": {"type": "string"},
            "probability": {
                **_NUMBER_OR_NULL,
                "description": "calibrated probability of the model's label (see `label`)",
            },
            "risk_level": _RISK_LEVEL,
            "change_1h": _NUMBER_OR_NULL,
            "as_of": {**_TIME_OR_NULL, "description": "open time of the scored bar (UTC)"},
            "data_age_seconds": {
                **_NUMBER_OR_NULL,
                "description": "seconds since the newest bar closed, on the radar clock",
            },
            "stale": {
                "type": "boolean",
                "description": "true when the newest bar closed more than two bars ago",
            },
            "top_driver": _STRING_OR_NULL,
            "drivers": {"type": "array", "items": _ref("RadarDriver")},
            "has_drivers": {
                "type": "boolean",
                "description": "whether drivers were computed: the radar computes them for rows "
                "at or above the alert level; for the others, /scores/{symbol}?drivers=1 "
                "computes them on demand",
            },
            "sparkline": {
                "type": "object",
                "properties": {
                    "time": {"type": "array", "items": _TIME},
                    "probability": _SERIES,
                },
            },
            "label": {**_STRING_OR_NULL, "description": "what the probability is about"},
            "model": {"description": "the model that scored (name:version)"},
            "mode": _MODE,
            "price": {**_NUMBER_OR_NULL, "description": "close of the scored bar"},
            "horizon": {**_STRING_OR_NULL, "description": "how far ahead the label looks"},
            "from": {
                **_TIME_OR_NULL,
                "description": "start of the window the probability covers (the bar's close)",
            },
            "until": {**_TIME_OR_NULL, "description": "end of the window the probability covers"},
            "squeeze_running": {
                "type": ["boolean", "null"],
                "description": "true: a squeeze of the model's label ended in its calm window "
                "(6 h) before this bar, 'squeeze under way': the alert rule gives no new alert; "
                "false: a calm hour; null: not judged (below the model's alert level, or a "
                "model without a calm rule) or not known (a bar of the calm window, or its "
                "liquidations, missing)",
            },
            "warnings": {"type": "array", "items": _ref("RadarWarning")},
        },
    },
    "RiskTable": {
        "type": "object",
        "title": "RiskTable",
        "required": ["as_of", "symbols"],
        "properties": {
            "as_of": {**_TIME, "description": "the radar clock (replayed time in a replay)"},
            "bar": _STRING_OR_NULL,
            "mode": _MODE,
            "replay_ended": {
                "description": "when a replay has ended, when it did (the clock stops there)"
            },
            "symbols": {
                "type": "array",
                "description": "every watched symbol, most at risk first",
                "items": _ref("RiskRow"),
            },
        },
    },
    "RiskSymbol": {
        "title": "RiskSymbol",
        "description": "One symbol: its /risk row plus history, alerts, after-flush read, model",
        "allOf": [
            _ref("RiskRow"),
            {
                "type": "object",
                "required": ["history", "alerts", "post_flush", "model"],
                "properties": {
                    "history": {
                        "type": "object",
                        "description": "series on the bar grid; null where absent",
                        "required": ["time"],
                        "properties": {
                            "time": {"type": "array", "items": _TIME},
                            "probability": _SERIES,
                            "close": _SERIES,
                            "liq_long_usd": _SERIES,
                            "liq_short_usd": _SERIES,
                            "funding_rate": _SERIES,
                            "open_interest_usd": _SERIES,
                            "basis": _SERIES,
                            "depth_bid_1pct_usd": _SERIES,
                        },
                    },
                    "alerts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "time": _TIME,
                                "probability": {"type": "number"},
                                "level": {"type": "string"},
                            },
                        },
                    },
                    "post_flush": {
                        "type": ["object", "null"],
                        "description": "the after-flush read, when a large squeeze happened "
                        "in the last 48 h",
                    },
                    "model": {
                        "type": "object",
                        "description": "label, base rate, thresholds and track record",
                        "properties": {
                            "name": _STRING_OR_NULL,
                            "label": _STRING_OR_NULL,
                            "base_rate": _NUMBER_OR_NULL,
                            "alert_threshold": {
                                **_NUMBER_OR_NULL,
                                "description": "the probability from which the model alerts "
                                "(in calm hours only under a calm rule)",
                            },
                            "alert_rule": _ALERT_RULE,
                            "thresholds": {"type": ["object", "null"]},
                            "track_record": {"type": ["object", "null"]},
                        },
                    },
                },
            },
        ],
    },
    "Scores": {
        "type": "object",
        "title": "Scores",
        "description": "The scored history of a symbol (live and backtests) with label events",
        "required": ["symbol", "bar", "time", "probability", "risk_level", "events"],
        "properties": {
            "symbol": {"type": "string"},
            "bar": {"type": "string"},
            "time": {"type": "array", "items": _TIME},
            "probability": _SERIES,
            "risk_level": {"type": "array", "items": _RISK_LEVEL},
            "drivers": {"type": "array", "description": "with drivers=1: each bar's drivers"},
            "events": {
                "type": "array",
                "description": "flushes by the model's label: time and size (long "
                "liquidations in USD)",
                "items": {
                    "type": "object",
                    "properties": {"time": _TIME, "size": {"type": "number"}},
                },
            },
            "backtest": {
                "type": ["object", "null"],
                "description": "what the radar said before each flush, out of sample, by the "
                "model's alert rule: alert bars are at or above `alert_threshold` and, under "
                "a calm rule, outside a running squeeze (`squeeze_bars`: bars at the level the "
                "rule was silent on)",
                "properties": {
                    "alert_threshold": _NUMBER_OR_NULL,
                    "alert_rule": _ALERT_RULE,
                    "warned": {"type": ["integer", "null"]},
                    "events": {"type": "integer"},
                    "alert_bars": {"type": ["integer", "null"]},
                    "squeeze_bars": {"type": ["integer", "null"]},
                    "false_alarms": {"type": ["integer", "null"]},
                },
            },
        },
    },
}

_ERROR_REF = _ref("Error")
_SYMBOL = {
    "name": "symbol",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "a watched symbol, e.g. BTC",
}
_KEY = {"401": _json(_ERROR_REF, "missing or wrong API key")}
_NO_ROUTE = {"404": _json(_ERROR_REF, "no such route (a path no route matches)")}
_UNREADABLE = {  # serving.radar_api.unreadable: one symbol's damaged data, the others served
    "503": _json(
        {
            "type": "object",
            "required": ["error", "symbol", "partition"],
            "properties": {
                "error": {"type": "string"},
                "symbol": {"type": "string"},
                "partition": {
                    "type": ["string", "null"],
                    "description": "the damaged file or folder, relative to the data directory",
                },
            },
        },
        "this symbol's stored data is unreadable (the other symbols are served)",
    )
}

PATHS: dict[str, Any] = {
    "/risk": {
        "get": {
            "operationId": "risk",
            "tags": ["radar"],
            "summary": "Every watched symbol's latest score, most at risk first",
            "responses": {
                "200": _json(_ref("RiskTable"), "the radar table"),
                "304": {"description": "unchanged since the ETag sent in If-None-Match"},
                **_KEY,
            },
        }
    },
    "/risk/{symbol}": {
        "get": {
            "operationId": "risk_symbol",
            "tags": ["radar"],
            "summary": "One symbol: its score, history, alerts, after-flush read and model",
            "parameters": [
                _SYMBOL,
                {
                    "name": "window",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["24h", "7d", "30d"], "default": "24h"},
                    "description": "how much history to return",
                },
            ],
            "responses": {
                "200": _json(_ref("RiskSymbol"), "the symbol's radar answer"),
                "304": {"description": "unchanged since the ETag sent in If-None-Match"},
                "400": _json(_ERROR_REF, "the window is not one of 24h, 7d, 30d"),
                "404": _json(_ERROR_REF, "the symbol is not watched"),
                **_KEY,
                **_UNREADABLE,
            },
        }
    },
    "/scores/{symbol}": {
        "get": {
            "operationId": "scores",
            "tags": ["radar"],
            "summary": "A symbol's scored history (live and `flushrisk score`) with label events",
            "parameters": [
                _SYMBOL,
                {
                    "name": "start",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "date-time"},
                    "description": "first bar time (UTC)",
                },
                {
                    "name": "end",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "date-time"},
                    "description": "last bar time (UTC)",
                },
                {
                    "name": "bar",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "which bar's scores, when several are stored",
                },
                {
                    "name": "drivers",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
                    "description": "1: add each bar's drivers (for a bounded number of bars)",
                },
            ],
            "responses": {
                "200": _json(_ref("Scores"), "the scored history"),
                "304": {"description": "unchanged since the ETag sent in If-None-Match"},
                "400": _json(_ERROR_REF, "a bad symbol, time, bar, or too many bars"),
                "404": _json(_ERROR_REF, "no scores for this symbol"),
                **_KEY,
                **_UNREADABLE,
            },
        }
    },
    "/": {
        "get": {
            "operationId": "radar_page",
            "tags": ["pages"],
            "summary": "The radar page: every watched symbol (reads GET /risk)",
            "responses": {"200": _html("the page")},
        }
    },
    "/symbol/{symbol}": {
        "get": {
            "operationId": "symbol_page",
            "tags": ["pages"],
            "summary": "One symbol's page (reads GET /risk/{symbol})",
            "parameters": [_SYMBOL],
            "responses": {"200": _html("the page"), **_NO_ROUTE},
        }
    },
    "/backtest/{symbol}": {
        "get": {
            "operationId": "backtest_page",
            "tags": ["pages"],
            "summary": "The scored history with every flush marked (reads GET /scores/{symbol})",
            "parameters": [_SYMBOL],
            "responses": {"200": _html("the page"), **_NO_ROUTE},
        }
    },
    "/livez": {
        "get": {
            "operationId": "livez",
            "tags": ["probes"],
            "summary": "Liveness: the process answers",
            "responses": {"200": {"description": "alive"}},
        }
    },
    "/readyz": {
        "get": {
            "operationId": "readyz",
            "tags": ["probes"],
            "summary": "Readiness: the models are loaded",
            "responses": {
                "200": {"description": "ready"},
                "503": {"description": "not ready yet"},
            },
        }
    },
    "/metrics": {
        "get": {
            "operationId": "metrics",
            "tags": ["probes"],
            "summary": "Prometheus metrics (probabilities, staleness, HTTP, collector)",
            "responses": {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": _json(
                    _ERROR_REF, "the API key or FLUSHRISK_METRICS_TOKEN is needed (when set)"
                ),
            },
        }
    },
    "/docs.json": {
        "get": {
            "operationId": "openapi",
            "tags": ["probes"],
            "summary": "This OpenAPI document",
            "responses": {"200": _json({"type": "object"}, "the OpenAPI 3.1 document")},
        }
    },
}

__all__ = ["PATHS", "SCHEMAS"]
