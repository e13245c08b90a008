"""`flushrisk watch --alert-level`: a trader who wants fewer alerts raises the level alerts fire
from; the model's own rule (its level, its calm hours) still applies, and a level that would
lower it, or one without a webhook to send to, is refused in words."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import DataError
from training.cli import app
from training.cli.watch import alert_manager

T0 = pd.Timestamp("2025-03-01 00:00", tz="UTC")
THRESHOLDS = {"elevated": 0.02, "high": 0.05, "extreme": 0.12}


def _observe(manager, k, p, level, running=False):
    return manager.observe("BTC", T0 + pd.Timedelta(hours=k), p, level, "a squeeze",
                           thresholds=THRESHOLDS, bar="1h", horizon="1h",
                           alert_level="elevated", calm_hours=6.0, running=running)


def test_a_raised_level_alerts_only_from_it_and_keeps_the_calm_rule(tmp_path):
    manager = alert_manager([], tmp_path, "http://x", "replay", "extreme")
    try:
        assert _observe(manager, 0, 0.03, "elevated") is None
        assert _observe(manager, 1, 0.06, "high") is None
        assert _observe(manager, 2, 0.2, "extreme", running=True) is None  # squeeze under way
        alert = _observe(manager, 3, 0.2, "extreme")
        assert alert is not None and alert.crossed == "extreme"
        assert alert.threshold == THRESHOLDS["extreme"]
    finally:
        manager.close()
    default = alert_manager([], tmp_path / "b", "http://x", "replay")
    try:  # without the option: the model's own level
        assert _observe(default, 0, 0.03, "elevated").crossed == "elevated"
    finally:
        default.close()


def test_a_level_that_would_lower_the_rule_or_has_nowhere_to_go_is_refused(tmp_path):
    with pytest.raises(DataError, match="give high or extreme"):
        alert_manager([], tmp_path, "http://x", "replay", "elevated")
    result = CliRunner().invoke(
        app, ["watch", "--replay", "BTC", "--data-dir", str(tmp_path), "--alert-level", "extreme"]
    )
    assert result.exit_code != 0
    assert "give --alert-webhook URL too" in result.output
    assert "Traceback" not in result.output
