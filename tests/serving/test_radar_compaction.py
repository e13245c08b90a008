"""The watcher compacts the tables it appends to: one-bar files do not pile up (issue 22)."""

from __future__ import annotations

import pandas as pd

from features.partitioned import file_count, table_history
from features.scores import ScoreStore
from features.store import MarketStore
from serving.radar_writer import AutoCompact, persist
from tests.features.test_partitioned_store import bars


def test_every_nth_write_of_a_symbol_compacts_its_market_and_scores_tables(tmp_path):
    history = bars(48, freq="1h")
    persist(tmp_path, "1h", "test", {"BTC": history}, [])
    compactor = AutoCompact(tmp_path, "1h", every=3)
    new = bars(6, start=str(history.index[-1] + pd.Timedelta("1h")), freq="1h", seed=3)
    compacted = []
    for k in range(6):  # the radar's bar closes: one bar and one score each
        bar = new.iloc[[k]]
        records = [{"symbol": "BTC", "time": bar.index[0], "probability": 0.1, "risk_level": "low"}]
        persist(tmp_path, "1h", "test", {"BTC": bar}, records)
        compacted.append(compactor.note({"BTC": bar}, records))
    assert compacted == [[], [], ["BTC"], [], [], ["BTC"]]
    market, scores = MarketStore(tmp_path).path("BTC", "1h"), ScoreStore(tmp_path).path("BTC", "1h")
    assert file_count(market) == 1 and file_count(scores) == 1
    assert table_history(market, 1)[0]["operation"] == "OPTIMIZE"
    stored = MarketStore(tmp_path).read("BTC")
    assert len(stored) == 54 and stored.index.is_unique
    assert len(ScoreStore(tmp_path).read("BTC", "1h")) == 6
