"""Whole-range summaries per name or per label set: the dashboard's tables."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from itertools import chain

from metrics_store.closed_days import closed_day_merges
from metrics_store.queries import Merger, parse_labels
from metrics_store.ranges import TimeRange
from metrics_store.row_sources import covering_rows_sql
from metrics_store.sketch import QuantileSketch
from metrics_store.store import TOTAL_NAME
from metrics_store.timebuckets import DAY

ERROR_STATUS = "5xx"
GROUPS = ("name", "labels", "all")


@dataclass
class Summary:
    """Merged statistics of one name (or one label set) over a whole range."""

    kind: str
    name: str
    labels: str
    unit: str
    count: float
    sum: float
    min: float
    max: float
    p50: float | None
    p95: float | None
    p99: float | None
    errors: float

    @property
    def avg(self) -> float | None:
        """Exact mean, ``sum / count``."""
        return self.sum / self.count if self.count else None

    @property
    def error_ratio(self) -> float | None:
        """Share of the count that were errors (5xx for http), 0..1."""
        return self.errors / self.count if self.count else None


def summarize(
    conn: sqlite3.Connection,
    time_range: TimeRange,
    kind: str,
    *,
    name: str | None = None,
    group: str = "name",
) -> list[Summary]:
    """Summarize ``kind`` over the range, busiest first.

    ``group`` is ``name`` (one entry per name), ``labels`` (one per name and
    label set, for a breakdown by method and status) or ``all`` (a single
    entry merging everything). Errors count http series of status class 5xx.
    """
    if group not in GROUPS:
        raise ValueError(f"group must be one of {', '.join(GROUPS)}; got {group!r}")
    return _summaries(_merge_rows(conn, time_range, kind, name, group), kind)


def top_by_total(
    conn: sqlite3.Connection, time_range: TimeRange, kind: str, limit: int
) -> list[Summary]:
    """The ``limit`` names of ``kind`` with the largest total (``sum``), largest first.

    Ranking sums in SQL, so only the winners' sketches are decoded.
    """
    where, params = "s.kind = ? AND s.name != ?", [kind, TOTAL_NAME]
    series = [
        series_id
        for (series_id,) in conn.execute(
            f"SELECT s.id FROM series AS s WHERE {where}", params
        )
    ]
    rows_sql, rows_params = _rows_sql(conn, time_range, series)
    names = [
        name
        for (name,) in conn.execute(
            # Totals per series first: one series lookup each, not one per row.
            "SELECT s.name FROM (SELECT series_id, sum(sum) AS sum "
            f"FROM ({rows_sql}) GROUP BY series_id) AS r "
            "CROSS JOIN series AS s ON s.id = r.series_id "
            f"WHERE {where} "
            "GROUP BY s.name ORDER BY sum(r.sum) DESC, s.name LIMIT ?",
            [*rows_params, *params, limit],
        )
    ]
    groups = _merge_rows(conn, time_range, kind, names, "name")
    return sorted(_summaries(groups, kind), key=lambda s: (-s.sum, s.name))


def summarize_with_total(
    conn: sqlite3.Connection, time_range: TimeRange, kind: str
) -> tuple[list[Summary], Summary | None]:
    """Per-name summaries and their merge, reading and decoding each row once."""
    groups = _merge_rows(conn, time_range, kind, None, "name")
    total = _Group("", "")
    for group in groups.values():
        total.merge(group)
    summaries = _summaries(groups, kind)
    return summaries, (_summaries({"": total}, kind)[0] if groups else None)


class _Group:
    __slots__ = ("name", "labels", "unit", "merger", "errors")

    def __init__(self, name: str, labels: str, unit: str = "") -> None:
        self.name = name
        self.labels = labels
        self.unit = unit
        self.merger = Merger()
        self.errors = 0.0

    def merge(self, other: _Group) -> None:
        """Fold another group's statistics in."""
        self.unit = self.unit or other.unit
        self.errors += other.errors
        merger, theirs = self.merger, other.merger
        merger.count += theirs.count
        merger.sum += theirs.sum
        merger.min = min(merger.min, theirs.min)
        merger.max = max(merger.max, theirs.max)
        sketch = theirs.merged_sketch()
        if sketch is not None:
            if merger.merged_sketch() is None:
                merger.sketch = QuantileSketch().merge(sketch)
            else:
                merger.sketch.merge(sketch)


def _merge_rows(
    conn: sqlite3.Connection,
    time_range: TimeRange,
    kind: str,
    name: str | list[str] | None,
    group: str,
) -> dict[tuple[str, str], _Group]:
    clauses = ["s.kind = ?"]
    params: list = [kind]
    if isinstance(name, str):
        clauses.append("s.name = ?")
        params.append(name)
    elif name is not None:
        clauses.append(f"s.name IN ({', '.join('?' for _ in name)})")
        params.extend(name)
    else:
        clauses.append("s.name != ?")
        params.append(TOTAL_NAME)
    where = " AND ".join(clauses)
    series = {
        series_id: (series_name, labels, unit)
        for series_id, series_name, labels, unit in conn.execute(
            f"SELECT s.id, s.name, s.labels, s.unit FROM series AS s WHERE {where}",
            params,
        )
    }
    spans, closed = closed_day_merges(
        conn, time_range.start, time_range.end, list(series)
    )
    rows_sql, rows_params = _rows_sql(conn, time_range, list(series), spans)
    cursor = conn.execute(
        "SELECT s.name, s.labels, s.unit, r.count, r.sum, r.min, r.max, r.sketch "
        f"FROM ({rows_sql}) AS r CROSS JOIN series AS s ON s.id = r.series_id "
        f"WHERE {where}",
        [*rows_params, *params],
    )
    closed_rows = ((*series[series_id], *merge) for series_id, merge in closed.items())
    groups: dict[tuple[str, str], _Group] = {}
    error_labels: dict[str, bool] = {}
    for series_name, labels, unit, count, total, low, high, blob in chain(
        closed_rows, cursor
    ):
        if group == "name":
            key = (series_name, "")
        elif group == "labels":
            key = (series_name, labels)
        else:
            key = ("", "")
        found = groups.get(key)
        if found is None:
            found = groups[key] = _Group(key[0], key[1], unit)
        found.merger.add(count, total, low, high, blob)
        is_error = error_labels.get(labels)
        if is_error is None:
            is_error = error_labels[labels] = _is_error(kind, labels)
        if is_error:
            found.errors += count
    return groups


def _rows_sql(
    conn: sqlite3.Connection,
    time_range: TimeRange,
    series: list[int],
    closed_days: list[tuple[int, int]] | None = None,
) -> tuple[str, list]:
    # A few series' rows are read each by its key, so a summary of a few
    # names never reads other series' rows. When most series match, one
    # scan of the range is cheaper than a lookup per row.
    (everything,) = conn.execute("SELECT count(*) FROM series").fetchone()
    return covering_rows_sql(
        conn,
        time_range.start,
        time_range.end,
        DAY,
        None if len(series) * 2 > everything else series,
        closed_days,
    )


def _summaries(groups: dict, kind: str) -> list[Summary]:
    summaries = []
    for group in groups.values():
        point = group.merger.point(0)
        summaries.append(
            Summary(
                kind=kind,
                name=group.name,
                labels=group.labels,
                unit=group.unit,
                count=point.count,
                sum=point.sum,
                min=point.min,
                max=point.max,
                p50=point.p50,
                p95=point.p95,
                p99=point.p99,
                errors=group.errors,
            )
        )
    summaries.sort(key=lambda s: (-s.count, s.name, s.labels))
    return summaries


def _is_error(kind: str, labels: str) -> bool:
    return kind == "http" and parse_labels(labels).get("status") == ERROR_STATUS
