"""/risk from a prepared snapshot (ETag, 304, gzip), /risk/{symbol} history from an incremental
cache, and drivers on demand from /scores/{symbol}?drivers=1."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from features.scores import ScoreStore
from serving.radar_cache import HistoryCache, read_history
from tests.serving.test_radar_api import _fresh, api, radar_dir  # noqa: F401 - fixtures


def test_risk_answers_304_until_the_snapshot_changes(api, radar_dir):  # noqa: F811
    _fresh(radar_dir, written_at=time.time(), speed=1.0)
    first = api.get("/risk")
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('W/"')
    again = api.get("/risk", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    # the watcher went silent (killed, its replay never ended): the rows turn stale, so the
    # old copy is no longer current
    ended = _fresh(radar_dir)["replay_ended"]
    _fresh(radar_dir, written_at=time.time() - 3 * 3600, replay_ended=None)
    changed = api.get("/risk", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert all(r["stale"] for r in changed.json()["symbols"])
    _fresh(radar_dir, written_at=time.time(), replay_ended=ended)


def test_large_answers_are_gzipped_for_clients_that_accept_it(api, radar_dir):  # noqa: F811
    _fresh(radar_dir, written_at=time.time())
    zipped = api.get("/risk", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    plain = api.get("/risk", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert zipped.json()["symbols"] == plain.json()["symbols"]  # the client unzipped it
    symbol = api.get("/risk/ETH?window=7d", headers={"Accept-Encoding": "gzip"})
    assert symbol.headers["content-encoding"] == "gzip" and len(symbol.json()["history"]["time"]) == 168


def test_history_cache_reads_only_new_bars_and_equals_a_store_read(radar_dir):  # noqa: F811
    scores = ScoreStore(radar_dir).read("BTC", "1h")
    last = scores.index[-1]
    earlier = scores.index[-6]
    cache = HistoryCache()
    start = last - pd.Timedelta(days=7)
    first = cache.window(radar_dir, "BTC", "1h", start, earlier)
    pd.testing.assert_frame_equal(first, read_history(radar_dir, "BTC", "1h", start, earlier))
    # the radar published 5 more bars: one incremental read, and the same table as a full read
    later = cache.window(radar_dir, "BTC", "1h", start, last)
    assert cache.reads == {"full": 1, "incremental": 1}
    expected = read_history(radar_dir, "BTC", "1h", start, last)
    pd.testing.assert_frame_equal(later, expected, check_freq=False)
    cache.window(radar_dir, "BTC", "1h", start, last)
    assert cache.reads == {"full": 1, "incremental": 1}  # nothing new: no read at all


def test_scores_drivers_on_demand_equal_predict(api, radar_dir):  # noqa: F811
    """The radar stores drivers only for rows at or above the alert level; a page asks
    /scores/{symbol}?drivers=1 for the others, and gets what /predict says for that bar."""
    from features import MIN_WINDOW
    from features.store import MarketStore
    from serving.schemas import PredictRequest
    from serving.state import STATE
    from tests.serving.conftest import bars_payload

    store = ScoreStore(radar_dir)
    stored = store.read("BTC", "1h")
    predictor = STATE.get("BTC")
    assert predictor is not None
    model = f"{predictor.name}:{predictor.version}"
    if (stored["model"] != model).any():  # scored by the same model under another name
        store.write("BTC", "1h", stored.assign(model=model))
    try:
        missing = np.flatnonzero(~stored["has_drivers"].to_numpy(dtype=bool))
        assert len(missing), "the radar computed drivers for rows below the alert level"
        assert (stored["drivers"].iloc[missing] == "[]").all()
        plain = api.get("/scores/BTC").json()
        assert "drivers" not in plain
        body = api.get("/scores/BTC", params={"drivers": "1"}).json()
        assert len(body["drivers"]) == len(stored)
        market = MarketStore(radar_dir).read("BTC", "1h")
        for i in missing[-3:]:
            t = stored.index[i]
            window = market[(market.index > t - MIN_WINDOW) & (market.index <= t)]
            request = PredictRequest.model_validate({"symbol": "BTC", "bars": bars_payload(window)})
            want = predictor.predict(request).drivers
            got = body["drivers"][i]
            assert got and [d["feature"] for d in got] == [d.feature for d in want]
            np.testing.assert_allclose([d["contribution"] for d in got],
                                       [d.contribution for d in want], rtol=1e-9)
    finally:
        store.write("BTC", "1h", stored)
