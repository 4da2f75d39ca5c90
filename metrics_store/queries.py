"""Reading rollups back: series points, merged totals and per-name summaries.

Every function takes an open ``sqlite3`` connection to the metrics database,
so a caller chooses between the store's shared connection for short reads
and :func:`open_reader` for long streaming ones.

Percentiles always come from merged quantile sketches, clamped into the
``[min, max]`` of the rows merged; averages are ``sum / count``. A bucket
with no rows yields no point at all, so gaps stay gaps.

Series named ``TOTAL_NAME`` (one per kind, the merge of all its series) are
left out unless a caller asks for that name: JSON, CSV and every table show
real series only, and :func:`merged_totals` reads the total instead of
merging the whole kind.

Hour buckets are read from ``rollup_hour`` except for hours whose minutes
changed since the last hour rollup (``dirty_hours``): those are merged from
their minute rows, so the newest hour is never stale.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, NamedTuple

from metrics_store.ranges import MetricsQuery, TimeRange
from metrics_store.row_sources import bucket_rows_sql, covering_rows_sql
from metrics_store.sketch import (
    QuantileSketch,
    bucket_value,
    nearest_rank,
    serialized_quantiles,
)
from metrics_store.store import TOTAL_KINDS, TOTAL_NAME
from metrics_store.timebuckets import iso_utc

QUANTILES = (0.5, 0.95, 0.99)
ROUND_DIGITS = 6


class SeriesInfo(NamedTuple):
    """Identity and unit of one stored series."""

    id: int
    kind: str
    name: str
    labels: str
    unit: str


@dataclass(slots=True)
class Point:
    """Merged statistics of one bucket."""

    bucket: int
    count: float
    sum: float
    min: float
    max: float
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    @property
    def avg(self) -> float | None:
        """Exact mean, ``sum / count``."""
        return self.sum / self.count if self.count else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form with ``t`` in ISO 8601 UTC."""
        return {
            "t": iso_utc(self.bucket),
            "count": clean_number(self.count),
            "sum": clean_number(self.sum),
            "min": clean_number(self.min),
            "max": clean_number(self.max),
            "avg": clean_number(self.avg),
            "p50": clean_number(self.p50),
            "p95": clean_number(self.p95),
            "p99": clean_number(self.p99),
        }


@dataclass
class SeriesPoints:
    """One series and its points, oldest first."""

    kind: str
    name: str
    labels: str
    unit: str
    points: list[Point]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "name": self.name,
            "labels": self.labels,
            "unit": self.unit,
            "points": [point.as_dict() for point in self.points],
        }


class Merger:
    """Accumulates rollup rows into one bucket's statistics.

    A bucket of a single row (most chart points) reads its percentiles
    straight from the stored bytes; a sketch is only built for a second row.
    """

    __slots__ = ("count", "sum", "min", "max", "sketch", "blob")

    def __init__(self) -> None:
        self.count = 0.0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.sketch: QuantileSketch | None = None
        self.blob: bytes | None = None

    def add(
        self, count: float, total: float, low: float, high: float, blob: bytes
    ) -> None:
        """Fold one row in."""
        self.count += count
        self.sum += total
        if low < self.min:
            self.min = low
        if high > self.max:
            self.max = high
        if self.sketch is not None:
            self.sketch.merge_bytes(blob)
        elif self.blob is None:
            self.blob = blob
        else:
            self.sketch = QuantileSketch.from_bytes(self.blob).merge_bytes(blob)
            self.blob = None

    def merged_sketch(self) -> QuantileSketch | None:
        """The merge of every row's sketch, or None before the first row."""
        if self.sketch is None and self.blob is not None:
            self.sketch = QuantileSketch.from_bytes(self.blob)
            self.blob = None
        return self.sketch

    def point(self, bucket: int) -> Point:
        """Return the merged statistics, percentiles clamped into [min, max]."""
        p50 = p95 = p99 = None
        if self.blob is not None:
            quantiles = serialized_quantiles(self.blob, QUANTILES)
        elif self.sketch is not None:
            quantiles = sketch_quantiles(self.sketch, QUANTILES)
        else:
            quantiles = None
        if quantiles is not None:
            p50, p95, p99 = (_clamp(v, self.min, self.max) for v in quantiles)
        return Point(bucket, self.count, self.sum, self.min, self.max, p50, p95, p99)


def sketch_quantiles(sketch: QuantileSketch, qs: Sequence[float]) -> list[float | None]:
    """The same quantiles as ``sketch.quantiles(qs)``, computed faster.

    Charts ask for three quantiles of thousands of sketches; a running sum
    and a binary search per quantile touch each bucket once, in C.
    """
    bins = sketch.bins
    zero = sketch.zero_count
    total = zero + sum(bins.values())
    if total <= 0:
        return [None] * len(qs)
    keys = sorted(bins)
    cumulative = list(accumulate(map(bins.__getitem__, keys), initial=zero))
    results: list[float | None] = []
    for q in qs:
        # cumulative[i] counts everything below keys[i]; the answer is the
        # first bucket whose running total reaches the rank.
        index = bisect_left(cumulative, nearest_rank(q, total))
        if index == 0:
            results.append(0.0)
        else:
            results.append(bucket_value(keys[min(index, len(keys)) - 1]))
    return results


def open_reader(path: str | Path, busy_timeout: float = 5.0) -> sqlite3.Connection:
    """Open a separate read-only connection, for long reads such as exports.

    In WAL mode it never blocks the workers' flushes, and it holds no lock
    of the store object while a client downloads slowly.
    """
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    return conn


def clean_number(value: float | None) -> int | float | None:
    """Round for output; whole numbers become ints so counts print as integers."""
    if value is None:
        return None
    value = round(float(value), ROUND_DIGITS)
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


# Every query below reads rollup rows by their primary key range and looks
# each series up by id. CROSS JOIN pins that order: left to itself, SQLite
# may loop over series instead and rescan the range once per series.


def _series_filter(kind: str | None, name: str | None) -> tuple[str, list[Any]]:
    # The per-kind total series repeats every other series' rows: it is
    # only read when asked for by name, never mixed with the rest.
    clauses, params = [], []
    if kind is not None:
        clauses.append("s.kind = ?")
        params.append(kind)
    if name is not None:
        clauses.append("s.name = ?")
        params.append(name)
    else:
        clauses.append("s.name != ?")
        params.append(TOTAL_NAME)
    return " AND ".join(clauses), params


# -- series -------------------------------------------------------------------


def iter_points(
    conn: sqlite3.Connection, query: MetricsQuery
) -> Iterator[tuple[SeriesInfo, Point]]:
    """Yield ``(series, point)`` ordered by bucket, then kind, name and labels.

    Streams from the cursor: memory stays flat however many rows match.
    """
    rows_sql, params = bucket_rows_sql(query.time_range)
    where, filter_params = _series_filter(query.kind, query.name)
    cursor = conn.execute(
        "SELECT r.bucket, s.id, s.kind, s.name, s.labels, s.unit, "
        "r.count, r.sum, r.min, r.max, r.sketch "
        f"FROM ({rows_sql}) AS r CROSS JOIN series AS s ON s.id = r.series_id "
        f"WHERE {where} ORDER BY r.bucket, s.kind, s.name, s.labels, s.id",
        [*params, *filter_params],
    )
    if query.time_range.resolution == "minute":
        # One row per series and minute: nothing to merge.
        for bucket, sid, kind, name, labels, unit, *stats in cursor:
            yield SeriesInfo(sid, kind, name, labels, unit), row_point(bucket, *stats)
        return
    current_key = None
    current_series: SeriesInfo | None = None
    merger = Merger()
    for bucket, sid, kind, name, labels, unit, count, total, low, high, blob in cursor:
        key = (bucket, sid)
        if key != current_key:
            if current_series is not None:
                yield current_series, merger.point(current_key[0])
            current_key = key
            current_series = SeriesInfo(sid, kind, name, labels, unit)
            merger = Merger()
        merger.add(count, total, low, high, blob)
    if current_series is not None:
        yield current_series, merger.point(current_key[0])


def row_point(
    bucket: int, count: float, total: float, low: float, high: float, blob: bytes
) -> Point:
    """Build the point of a single rollup row."""
    p50, p95, p99 = serialized_quantiles(blob, QUANTILES)
    return Point(
        bucket,
        count,
        total,
        low,
        high,
        _clamp(p50, low, high),
        _clamp(p95, low, high),
        _clamp(p99, low, high),
    )


def query_series(conn: sqlite3.Connection, query: MetricsQuery) -> list[SeriesPoints]:
    """Return every matching series with its points, sorted by kind, name, labels."""
    by_id: dict[int, SeriesPoints] = {}
    for series, point in iter_points(conn, query):
        found = by_id.get(series.id)
        if found is None:
            found = by_id[series.id] = SeriesPoints(
                series.kind, series.name, series.labels, series.unit, []
            )
        found.points.append(point)
    return sorted(by_id.values(), key=lambda s: (s.kind, s.name, s.labels))


def count_points(conn: sqlite3.Connection, query: MetricsQuery) -> int:
    """Return an upper bound of the points :func:`query_series` would return."""
    rows_sql, params = bucket_rows_sql(query.time_range)
    where, filter_params = _series_filter(query.kind, query.name)
    (count,) = conn.execute(
        f"SELECT count(*) FROM ({rows_sql}) AS r "
        f"CROSS JOIN series AS s ON s.id = r.series_id WHERE {where}",
        [*params, *filter_params],
    ).fetchone()
    return count


def merged_totals(
    conn: sqlite3.Connection,
    time_range: TimeRange,
    kind: str,
    name: str | None = None,
    *,
    step: int | None = None,
) -> list[Point]:
    """Merge every series of ``kind`` (and ``name``) per bucket, oldest first.

    Counts add up across labels and workers; percentiles come from the
    union of all sketches in the bucket. Without a name, kinds that keep a
    total series read just that one, which flushes keep equal to the merge.
    ``step`` (a multiple of the range's step, default that step) widens the
    buckets: each point then merges every row inside its wider bucket.
    """
    if name is None and kind in TOTAL_KINDS:
        name = TOTAL_NAME
    step = step or time_range.step
    where, filter_params = _series_filter(kind, name)
    rows_sql, params = _stepped_rows_sql(conn, time_range, step, where, filter_params)
    cursor = conn.execute(
        f"SELECT (r.bucket / {step}) * {step} AS b, "
        "r.count, r.sum, r.min, r.max, r.sketch "
        f"FROM ({rows_sql}) AS r CROSS JOIN series AS s ON s.id = r.series_id "
        f"WHERE {where}",
        [*params, *filter_params],
    )
    mergers = _merge_by_key(cursor)
    return [mergers[bucket].point(bucket) for bucket in sorted(mergers)]


def merged_totals_by_name(
    conn: sqlite3.Connection,
    time_range: TimeRange,
    kind: str,
    names: list[str],
    *,
    step: int | None = None,
) -> dict[str, list[Point]]:
    """Like :func:`merged_totals` for several names of ``kind`` in one pass."""
    if not names:
        return {}
    step = step or time_range.step
    where = f"s.kind = ? AND s.name IN ({', '.join('?' for _ in names)})"
    rows_sql, params = _stepped_rows_sql(conn, time_range, step, where, [kind, *names])
    cursor = conn.execute(
        f"SELECT s.name, (r.bucket / {step}) * {step} AS b, "
        "r.count, r.sum, r.min, r.max, r.sketch "
        f"FROM ({rows_sql}) AS r CROSS JOIN series AS s ON s.id = r.series_id "
        f"WHERE {where}",
        [*params, kind, *names],
    )
    mergers = _merge_by_key(((name, b), *stats) for name, b, *stats in cursor)
    result: dict[str, list[Point]] = {name: [] for name in names}
    for name, bucket in sorted(mergers):
        result[name].append(mergers[name, bucket].point(bucket))
    return result


def _merge_by_key(rows: Iterable[tuple]) -> dict[Any, Merger]:
    """Merge rows ``(key, count, sum, min, max, sketch)`` per key, in any order.

    Grouping here rather than sorting in SQL spares the database from
    copying every sketch into a sorter.
    """
    mergers: dict[Any, Merger] = {}
    for key, count, total, low, high, blob in rows:
        merger = mergers.get(key)
        if merger is None:
            merger = mergers[key] = Merger()
        merger.add(count, total, low, high, blob)
    return mergers


def counts_by_label(
    conn: sqlite3.Connection,
    time_range: TimeRange,
    kind: str,
    label: str,
    name: str | None = None,
    *,
    step: int | None = None,
) -> dict[str, dict[int, float]]:
    """Return ``{label value: {bucket: count}}``, such as requests by status class.

    Only counts are needed, so this sums in SQL and decodes no sketch.
    """
    step = step or time_range.step
    where, filter_params = _series_filter(kind, name)
    rows_sql, params = _stepped_rows_sql(conn, time_range, step, where, filter_params)
    cursor = conn.execute(
        f"SELECT (r.bucket / {step}) * {step} AS b, s.labels, sum(r.count) "
        f"FROM ({rows_sql}) AS r CROSS JOIN series AS s ON s.id = r.series_id "
        f"WHERE {where} GROUP BY b, s.labels",
        [*params, *filter_params],
    )
    result: dict[str, dict[int, float]] = {}
    for bucket, labels, count in cursor:
        value = parse_labels(labels).get(label, "")
        per_bucket = result.setdefault(value, {})
        per_bucket[bucket] = per_bucket.get(bucket, 0.0) + count
    return result


def averages_by_labels(
    conn: sqlite3.Connection,
    time_range: TimeRange,
    kind: str,
    name: str,
    *,
    step: int | None = None,
) -> dict[str, dict[int, float]]:
    """Return ``{labels: {bucket: sum / count}}`` for one name, labels sorted.

    Gauges such as a worker's memory chart only their exact mean, so this
    sums in SQL and decodes no sketch.
    """
    step = step or time_range.step
    where = "s.kind = ? AND s.name = ?"
    rows_sql, params = _stepped_rows_sql(conn, time_range, step, where, [kind, name])
    cursor = conn.execute(
        f"SELECT s.labels, (r.bucket / {step}) * {step} AS b, "
        "sum(r.sum), sum(r.count) "
        f"FROM ({rows_sql}) AS r CROSS JOIN series AS s ON s.id = r.series_id "
        f"WHERE {where} GROUP BY s.labels, b ORDER BY s.labels, b",
        [*params, kind, name],
    )
    result: dict[str, dict[int, float]] = {}
    for labels, bucket, total, count in cursor:
        if count:
            result.setdefault(labels, {})[bucket] = total / count
    return result


def _stepped_rows_sql(
    conn: sqlite3.Connection,
    time_range: TimeRange,
    step: int,
    where: str,
    params: list[Any],
) -> tuple[str, list[Any]]:
    """Rows of the series matching ``where``, each inside one ``step`` bucket."""
    if step % time_range.step:
        raise ValueError(
            f"step must be a multiple of the range's {time_range.step} s "
            f"buckets; got {step!r}"
        )
    series = [
        series_id
        for (series_id,) in conn.execute(
            f"SELECT s.id FROM series AS s WHERE {where}", params
        )
    ]
    return covering_rows_sql(conn, time_range.start, time_range.end, step, series)


def parse_labels(labels: str) -> dict[str, str]:
    """Split canonical ``k=v;k=v`` labels into a dict."""
    result = {}
    for pair in labels.split(";"):
        key, sep, value = pair.partition("=")
        if sep:
            result[key] = value
    return result


def _clamp(value: float | None, low: float, high: float) -> float | None:
    if value is None:
        return None
    return min(max(value, low), high)
