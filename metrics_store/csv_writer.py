"""Streaming CSV export of rollup points (RFC 4180, UTF-8, ISO 8601 UTC times)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator

from metrics_store.queries import ROUND_DIGITS, Point, SeriesInfo
from metrics_store.timebuckets import iso_utc

COLUMNS = (
    "bucket_start",
    "resolution",
    "kind",
    "name",
    "labels",
    "unit",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "p50",
    "p95",
    "p99",
)
# A spreadsheet reads a cell starting with one of these as a formula.
FORMULA_STARTERS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_CHARS = 64 * 1024


def neutralize(text: str) -> str:
    """Prefix a text cell that a spreadsheet would run as a formula with ``'``."""
    if text.startswith(FORMULA_STARTERS):
        return "'" + text
    return text


def format_number(value: float | None) -> str:
    """Render a number for CSV, rounded like JSON; whole numbers without a fraction."""
    if value is None:
        return ""
    text = f"{value:.{ROUND_DIGITS}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def csv_row(
    resolution: str, series: SeriesInfo, point: Point, bucket_start: str | None = None
) -> list[str]:
    """Return the cells of one export row, in :data:`COLUMNS` order."""
    return [
        bucket_start or iso_utc(point.bucket),
        resolution,
        neutralize(series.kind),
        neutralize(series.name),
        neutralize(series.labels),
        neutralize(series.unit),
        format_number(point.count),
        format_number(point.sum),
        format_number(point.min),
        format_number(point.max),
        format_number(point.avg),
        format_number(point.p50),
        format_number(point.p95),
        format_number(point.p99),
    ]


def iter_csv(
    rows: Iterable[tuple[SeriesInfo, Point]],
    resolution: str,
    *,
    chunk_chars: int = CHUNK_CHARS,
    progress: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """Yield the header and rows as text chunks of about ``chunk_chars``.

    Rows are consumed one at a time, so memory stays flat whatever the
    number of rows. ``progress``, if given, is called with the number of
    rows written so far after each chunk.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    written = 0
    last_bucket = None
    bucket_start = ""
    for series, point in rows:
        if point.bucket != last_bucket:
            # Rows come ordered by bucket: format each bucket's time once.
            last_bucket = point.bucket
            bucket_start = iso_utc(point.bucket)
        writer.writerow(csv_row(resolution, series, point, bucket_start))
        written += 1
        if buffer.tell() >= chunk_chars:
            yield _take(buffer)
            if progress is not None:
                progress(written)
    yield _take(buffer)
    if progress is not None:
        progress(written)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def export_filename(start: float, end: float) -> str:
    """Name an export file after its range: ``starpunk-metrics-<from>-<to>.csv``."""
    return f"starpunk-metrics-{_compact_iso(start)}-{_compact_iso(end)}.csv"


def _compact_iso(ts: float) -> str:
    # Colons are not allowed in file names on every system.
    return iso_utc(int(ts)).replace("-", "").replace(":", "")
