"""Download Binance USDⓈ-M public-archive files with their checksums (``data fetch-archive``).

Files come from ``https://data.binance.vision`` and are written under ``dest`` at the same
relative path as on the server (``futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01-01.zip``),
which is the layout ``flushrisk data import DEST --format binance-archive`` reads.

Daily files: klines, markPriceKlines, indexPriceKlines, premiumIndexKlines (at ``interval``),
metrics and bookDepth. Monthly files: fundingRate (Binance publishes no daily funding files).

Each file's ``.CHECKSUM`` (``<sha256>  <name>``) is downloaded first, the zip is streamed to a
temporary file, its SHA-256 compared, and only then renamed into place with its checksum
beside it. So a file in ``dest`` is always complete and verified, a file already present and
matching its stored checksum is skipped without a request, and an interrupted run loses at most
the file being downloaded. A file the archive does not have (404: not published yet, or before
the dataset starts) is reported and skipped. A checksum mismatch or a network error stops the
run with a message naming the file; everything verified before it stays.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import requests

from features.atomic import write_text_atomic
from features.bars import bar_name, parse_bar
from features.errors import DataError

BASE_URL = "https://data.binance.vision"
DAILY_KINDS = (
    "klines",
    "markPriceKlines",
    "indexPriceKlines",
    "premiumIndexKlines",
    "metrics",
    "bookDepth",
)
MONTHLY_KINDS = ("fundingRate",)
KINDS = (*DAILY_KINDS, *MONTHLY_KINDS)
KLINE_KINDS = ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines")
TIMEOUT = (10, 60)
CHUNK = 1 << 16


class ChecksumMismatch(DataError):
    """A downloaded file does not match its published SHA-256."""


@dataclass
class ArchiveReport:
    """What a download did, file by file."""

    downloaded: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def archive_paths(
    symbol: str,
    since: pd.Timestamp,
    until: pd.Timestamp,
    interval: str,
    kinds: tuple[str, ...] = KINDS,
) -> Iterator[str]:
    """Server-relative paths of every file for the dates from ``since`` to ``until``."""
    symbol = symbol.upper()
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise DataError(f"unknown archive kind(s) {unknown}; known: {list(KINDS)}")
    days = pd.date_range(since.normalize(), until.normalize(), freq="D")
    for kind in kinds:
        if kind in MONTHLY_KINDS:
            months = pd.period_range(
                since.tz_localize(None).to_period("M"),
                until.tz_localize(None).to_period("M"),
                freq="M",
            )
            for month in months:
                yield f"data/futures/um/monthly/{kind}/{symbol}/{symbol}-{kind}-{month}.zip"
            continue
        for day in days:
            date = day.strftime("%Y-%m-%d")
            if kind in KLINE_KINDS:
                yield (
                    f"data/futures/um/daily/{kind}/{symbol}/{interval}/"
                    f"{symbol}-{interval}-{date}.zip"
                )
            else:
                yield f"data/futures/um/daily/{kind}/{symbol}/{symbol}-{kind}-{date}.zip"


def fetch_archive(
    symbol: str,
    since: pd.Timestamp,
    until: pd.Timestamp,
    dest: Path,
    interval: str = "5m",
    kinds: tuple[str, ...] = KINDS,
    base_url: str = BASE_URL,
    session: requests.Session | None = None,
    on_file: Callable[[str, str], None] | None = None,
) -> ArchiveReport:
    """Download and verify the archive files of ``symbol`` from ``since`` to ``until``.

    ``on_file(relative_path, outcome)`` is called after each file (outcome: downloaded, skipped,
    missing), for progress display.
    """
    interval = bar_name(parse_bar(interval))
    if until < since:
        raise DataError(f"--since {since.date()} is after --until {until.date()}")
    session = session or requests.Session()
    report = ArchiveReport()
    for rel in archive_paths(symbol, since, until, interval, kinds):
        local = Path(dest) / rel.removeprefix("data/")
        outcome = _fetch_one(session, f"{base_url.rstrip('/')}/{rel}", local, report)
        if on_file is not None:
            on_file(rel, outcome)
    return report


def _fetch_one(session: requests.Session, url: str, local: Path, report: ArchiveReport) -> str:
    checksum_file = local.with_name(local.name + ".CHECKSUM")
    if local.exists() and checksum_file.exists():
        expected = _parse_checksum(checksum_file.read_text(), str(checksum_file), local.name)
        if _sha256(local) == expected:
            report.skipped.append(local)
            return "skipped"
    checksum_text = _get_text(session, url + ".CHECKSUM")
    if checksum_text is None:
        report.missing.append(url)
        return "missing"
    expected = _parse_checksum(checksum_text, url + ".CHECKSUM", local.name)
    local.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{local.name}.", suffix=".part", dir=local.parent)
    os.close(fd)
    try:
        actual = _download(session, url, Path(tmp))
        if actual is None:
            report.missing.append(url)
            return "missing"
        if actual != expected:
            raise ChecksumMismatch(
                f"{url}: checksum mismatch (sha256 {actual}, published {expected}); the file "
                "was not kept. Run again to retry; files verified before it are kept."
            )
        os.replace(tmp, local)
        write_text_atomic(checksum_file, checksum_text)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    report.downloaded.append(local)
    return "downloaded"


def _network_error(url: str, err: Exception) -> DataError:
    return DataError(
        f"{url}: network error ({type(err).__name__}: {err}). Stopped; files downloaded and "
        "verified so far are kept, run the same command again to continue."
    )


def _get_text(session: requests.Session, url: str) -> str | None:
    try:
        response = session.get(url, timeout=TIMEOUT)
    except requests.RequestException as err:
        raise _network_error(url, err) from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise DataError(f"{url}: HTTP {response.status_code} from the archive")
    return response.text


def _download(session: requests.Session, url: str, target: Path) -> str | None:
    """Stream ``url`` to ``target``; its SHA-256, or None when the archive has no such file."""
    digest = hashlib.sha256()
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as response:
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise DataError(f"{url}: HTTP {response.status_code} from the archive")
            with open(target, "wb") as out:
                for block in response.iter_content(CHUNK):
                    digest.update(block)
                    out.write(block)
    except requests.RequestException as err:
        raise _network_error(url, err) from None
    return digest.hexdigest()


def _parse_checksum(text: str, source: str, name: str) -> str:
    """The hex digest from a '<sha256>  <file name>' line."""
    parts = text.strip().split()
    if not parts or len(parts[0]) != 64 or any(c not in "0123456789abcdefABCDEF" for c in parts[0]):
        raise DataError(f"{source}: not a SHA-256 checksum file ({text[:80]!r})")
    if len(parts) > 1 and parts[-1].lstrip("*") != name:
        raise DataError(f"{source}: checksum is for {parts[-1]!r}, not {name!r}")
    return parts[0].lower()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


