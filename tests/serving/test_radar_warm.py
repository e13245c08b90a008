"""The radar API's prepared answers (issue 23): what the warmer prepares when the radar
publishes is what a cold read of the store answers, and a new bar, new scores or new market
data are in the next answer (the caches are keyed by the data's version, not by a clock)."""

from __future__ import annotations

import json
import shutil
import time

import pandas as pd
import pytest

from features.scores import ScoreStore
from serving import radar_api
from serving.radar import snapshot_path
from tests.serving.test_radar_api import radar_dir  # noqa: F401 - fixture


@pytest.fixture
def data_dir(radar_dir, tmp_path, monkeypatch):  # noqa: F811
    """A private copy of the replayed radar (these tests write to it), just published."""
    root = tmp_path / "data"
    shutil.copytree(radar_dir, root)
    monkeypatch.setenv("FLUSHRISK_DATA_DIR", str(root))
    _publish(root)
    radar_api.clear_caches()
    yield root
    radar_api.clear_caches()


def _publish(root, **change):
    """Rewrite the snapshot as the radar publishes it (a new file, just written)."""
    path = snapshot_path(root)
    snap = json.loads(path.read_text())
    snap.update(written_at=time.time(), speed=1.0, **change)
    path.write_text(json.dumps(snap))
    return snap


def _body(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    body.pop("data_age_seconds", None)  # moves with the clock between two requests
    return body


def test_warmed_answers_equal_cold_answers_and_need_no_read(client, data_dir):
    urls = ["/risk/ETH", "/risk/BTC?window=7d", "/scores/SOL", "/scores/BTC"]
    cold = {u: _body(client, u) for u in urls}
    radar_api.clear_caches()
    snap = radar_api.snapshot()
    assert radar_api.warm(snap, data_dir) == len(snap["symbols"])
    reads = dict(radar_api.HISTORY.reads)
    for url in urls:
        assert _body(client, url) == cold[url], url
    # the pages' default window and /scores were made by the warmer: answered without a read
    # (the 7-day window is cut from the same cached 30 days)
    assert radar_api.HISTORY.reads == reads


def test_a_new_bar_is_in_the_next_answer(client, data_dir):
    snap = json.loads(snapshot_path(data_dir).read_text())
    entry = snap["symbols"]["BTC"]
    last = pd.Timestamp(entry["data_time"] or entry["time"])
    earlier = last - pd.Timedelta(hours=3)
    # the radar as it was 3 bars ago: its snapshot ends there
    old = {**entry, "time": earlier.isoformat(), "data_time": earlier.isoformat()}
    _publish(data_dir, symbols={**snap["symbols"], "BTC": old})
    radar_api.warm(radar_api.snapshot(), data_dir)
    before = _body(client, "/risk/BTC")
    assert pd.Timestamp(before["history"]["time"][-1]) == earlier
    # it publishes the 3 bars since: the next answer has them, as a cold read would
    _publish(data_dir, symbols=snap["symbols"])
    after = _body(client, "/risk/BTC")
    assert pd.Timestamp(after["history"]["time"][-1]) == last
    radar_api.clear_caches()
    assert _body(client, "/risk/BTC") == after


def test_new_scores_are_in_the_next_scores_answer(client, data_dir):
    store = ScoreStore(data_dir)
    first = _body(client, "/scores/BTC")
    rows = store.read("BTC", "1h")
    changed = rows.iloc[[-1]].assign(probability=0.987654, risk_level="extreme")
    store.write("BTC", "1h", changed)  # a re-score of the newest bar (same snapshot)
    second = _body(client, "/scores/BTC")
    assert second["probability"][-1] == pytest.approx(0.987654)
    assert second["probability"][:-1] == first["probability"][:-1]
    assert second["risk_level"][-1] == "extreme"


def test_a_risk_answer_served_while_the_next_is_made_says_when_its_ages_were_measured(
    client, data_dir, monkeypatch
):
    first = client.get("/risk").json()
    later = time.time() + 2.0  # two seconds on: the prepared answer is served, not re-made
    monkeypatch.setattr(radar_api.time, "time", lambda: later)
    again = client.get("/risk").json()
    snap = json.loads(snapshot_path(data_dir).read_text())
    step = pd.Timedelta(snap["bar"])
    for body in (first, again):
        as_of = pd.Timestamp(body["as_of"])
        for row in body["symbols"]:
            entry = snap["symbols"][row["symbol"]]
            end = pd.Timestamp(entry["data_time"] or entry["time"]) + step
            # every age is the age at the answer's as_of: true for whoever reads it later
            assert row["data_age_seconds"] == pytest.approx((as_of - end).total_seconds(), abs=1e-3)
