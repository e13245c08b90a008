"""The archive downloader, offline: a loopback HTTP server plays data.binance.vision."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading

import pandas as pd
import pytest

from features.errors import DataError
from features.sources.binance_archive import import_binance_archive
from features.sources.fetch_archive import ChecksumMismatch, fetch_archive
from tests.features.sources.archive_files import make_market, write_archive

SINCE = pd.Timestamp("2024-01-01", tz="UTC")
UNTIL = pd.Timestamp("2024-01-02", tz="UTC")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server root holding two days of files under data/..., each with its .CHECKSUM."""
    root = tmp_path_factory.mktemp("server")
    write_archive(
        root / "data",
        make_market(days=2),
        kinds=(
            "klines",
            "markPriceKlines",
            "indexPriceKlines",
            "premiumIndexKlines",
            "metrics",
            "fundingRate",
            "bookDepth",
        ),
    )
    for path in (root / "data").rglob("*.zip"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
    return root


class Server:
    def __init__(self, root):
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                outer.requests.append(self.path)

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(served):
    s = Server(served)
    yield s
    s.stop()


def test_downloads_verify_and_mirror_the_layout_that_imports(server, served, tmp_path):
    report = fetch_archive("BTCUSDT", SINCE, UNTIL, tmp_path, base_url=server.url)
    # 6 daily kinds x 2 days + 1 monthly funding file.
    assert len(report.downloaded) == 13 and not report.missing
    for path in report.downloaded:
        assert path.with_name(path.name + ".CHECKSUM").exists()
    assert (tmp_path / "futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01-01.zip").exists()
    assert not list(tmp_path.rglob("*.part")), "no partial file is left"
    pd.testing.assert_frame_equal(import_binance_archive(tmp_path), import_binance_archive(served))


def test_files_already_present_are_skipped_without_a_request(server, tmp_path):
    fetch_archive("BTCUSDT", SINCE, UNTIL, tmp_path, base_url=server.url, kinds=("klines",))
    server.requests.clear()
    report = fetch_archive(
        "BTCUSDT", SINCE, UNTIL, tmp_path, base_url=server.url, kinds=("klines",)
    )
    assert len(report.skipped) == 2 and not report.downloaded
    assert server.requests == []


def test_a_damaged_local_file_is_downloaded_again(server, tmp_path):
    fetch_archive("BTCUSDT", SINCE, SINCE, tmp_path, base_url=server.url, kinds=("metrics",))
    local = next(tmp_path.rglob("*.zip"))
    good = local.read_bytes()
    local.write_bytes(good[:100])
    report = fetch_archive(
        "BTCUSDT", SINCE, SINCE, tmp_path, base_url=server.url, kinds=("metrics",)
    )
    assert report.downloaded == [local] and local.read_bytes() == good


def test_files_the_archive_lacks_are_reported_not_fatal(server, tmp_path):
    report = fetch_archive(
        "BTCUSDT",
        SINCE,
        pd.Timestamp("2024-01-03", tz="UTC"),
        tmp_path,
        base_url=server.url,
        kinds=("klines",),
    )
    assert len(report.downloaded) == 2
    assert report.missing == [
        f"{server.url}/data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01-03.zip"
    ]


def test_checksum_mismatch_stops_and_keeps_no_bad_file(served, tmp_path):
    bad_root = tmp_path / "bad-server"
    shutil.copytree(served, bad_root)
    victim = next(bad_root.rglob("BTCUSDT-5m-2024-01-02.zip"))
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")  # tampered in transit
    s = Server(bad_root)
    dest = tmp_path / "dest"
    try:
        with pytest.raises(ChecksumMismatch) as err:
            fetch_archive("BTCUSDT", SINCE, UNTIL, dest, base_url=s.url, kinds=("klines",))
    finally:
        s.stop()
    assert "BTCUSDT-5m-2024-01-02.zip: checksum mismatch" in str(err.value)
    kept = sorted(p.name for p in dest.rglob("*.zip"))
    assert kept == ["BTCUSDT-5m-2024-01-01.zip"], "verified files stay, the bad one is not kept"
    assert not list(dest.rglob("*.part"))


def test_network_error_stops_with_a_clear_message_keeping_finished_files(served, tmp_path):
    s = Server(served)
    with pytest.raises(DataError, match="network error") as err:
        fetch_archive(
            "BTCUSDT",
            SINCE,
            UNTIL,
            tmp_path,
            base_url=s.url,
            kinds=("klines",),
            on_file=lambda rel, outcome: s.stop(),
        )  # the server dies after one file
    assert "BTCUSDT-5m-2024-01-02.zip" in str(err.value)
    assert "run the same command again" in str(err.value)
    assert [p.name for p in tmp_path.rglob("*.zip")] == ["BTCUSDT-5m-2024-01-01.zip"]
