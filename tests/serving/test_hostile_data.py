"""One symbol's stored data damaged, or an alert log garbled: that symbol gets a clear 503
naming it and the partition, the other symbols are served as before, and nothing answers 500.

Issue 22: a truncated market partition of ETH made /risk/ETH answer 200 with an empty history
(no word that ETH's data is unreadable); a truncated scores partition, an alert log with an
invalid UTF-8 byte or JSON of another shape made /risk/ETH and /scores/ETH answer a bare 500.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from serving.radar import snapshot_path
from tests.serving.conftest import RADAR_SYMBOLS as SYMBOLS


@pytest.fixture
def data_dir(scored_radar, tmp_path, monkeypatch) -> Path:
    """A private copy of the scored radar, with a snapshot that looks just written."""
    root = tmp_path / "data"
    shutil.copytree(scored_radar, root)
    path = snapshot_path(root)
    snap = json.loads(path.read_text())
    snap.update(written_at=time.time(), speed=1.0)
    path.write_text(json.dumps(snap))
    monkeypatch.setenv("FLUSHRISK_DATA_DIR", str(root))
    return root


def _truncate_data_files(folder: Path) -> list[Path]:
    """Cut every Parquet data file of a dataset to half its size (a crash mid-write)."""
    files = [p for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts]
    assert files, f"no data files under {folder}"
    for path in files:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return files


def _market_folder(root: Path, symbol: str) -> Path:
    return root / symbol


def _scores_folder(root: Path, symbol: str) -> Path:
    from features.scores import ScoreStore

    return ScoreStore(root).root / symbol


def _assert_unreadable(response, symbol: str) -> None:
    assert response.status_code == 503, response.text[:300]
    body = response.json()
    assert body["symbol"] == symbol
    assert body["partition"] and body["partition"].startswith(("ETH", "_scores")), body
    assert symbol in body["error"] and "unreadable" in body["error"]


def test_a_truncated_market_partition_is_a_503_naming_symbol_and_partition(client, data_dir):
    _truncate_data_files(_market_folder(data_dir, "ETH"))
    for url in ("/risk/ETH", "/risk/ETH?window=7d", "/scores/ETH"):
        response = client.get(url)
        _assert_unreadable(response, "ETH")
        assert response.json()["partition"].startswith("ETH"), url
    assert client.get("/risk/BTC").status_code == 200
    assert client.get("/scores/BTC").status_code == 200
    assert {r["symbol"] for r in client.get("/risk").json()["symbols"]} == set(SYMBOLS)


def test_a_truncated_scores_partition_is_a_503_and_btc_is_served(client, data_dir):
    _truncate_data_files(_scores_folder(data_dir, "ETH"))
    for url in ("/risk/ETH", "/risk/ETH?window=7d", "/scores/ETH"):
        response = client.get(url)
        _assert_unreadable(response, "ETH")
        assert response.json()["partition"].startswith("_scores"), url
    btc = client.get("/risk/BTC?window=7d")
    assert btc.status_code == 200
    assert sum(p is not None for p in btc.json()["history"]["probability"]) == 6


@pytest.mark.parametrize(
    "garbage",
    [
        b'{"time": "2025-01-01T00:00:00Z", "probability": 0.3, "level": "hi\xff\xfegh"}\n',
        b"\xff\xfe\x00 not text at all\n",
        b'[1, 2, 3]\n"a string"\n{"time": 5, "probability": "x", "level": []}\n',
        b'{"time": "NaT", "probability": 0.2, "level": "high"}\n{"no": "fields"}\n',
    ],
)
def test_a_garbled_alert_log_never_answers_500(client, data_dir, garbage):
    from serving.alerts import alerts_path

    path = alerts_path(data_dir, "ETH")
    path.parent.mkdir(parents=True, exist_ok=True)
    last = json.loads(snapshot_path(data_dir).read_text())["symbols"]["ETH"]["time"]
    good = {"time": last, "probability": 0.4, "level": "high", "symbol": "ETH"}
    path.write_bytes(garbage + (json.dumps(good) + "\n").encode())
    response = client.get("/risk/ETH")
    assert response.status_code == 200, response.text[:300]
    alerts = response.json()["alerts"]  # the readable alert survives the damaged lines
    assert [{k: a[k] for k in ("time", "probability", "level")} for a in alerts] == [
        {"time": last, "probability": 0.4, "level": "high"}
    ]


@pytest.mark.parametrize(
    "query",
    [
        "bar=..%2f..%2fetc",
        "bar=banana",
        "bar=0",
        "bar=-1",
        "bar=" + "9" * 400,
        "bar=4h",  # a valid bar, but not a stored one
        "start=NaT",
        "end=nat",
        "start=" + "9" * 40,
        "start=2025-01-01&end=2024-01-01",
        "start=%00",
    ],
)
def test_every_bad_scores_parameter_is_a_400_naming_it(client, data_dir, query):
    response = client.get(f"/scores/BTC?{query}")
    assert response.status_code == 400, response.text[:300]
    name = query.split("=")[0]
    assert response.json()["error"].startswith(f"{name}:"), response.json()
