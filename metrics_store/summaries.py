"""Whole-range summaries per name or per label set: the dashboard's tables."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from metrics_store.queries import Merger, parse_labels, summary_rows_sql
from metrics_store.ranges import TimeRange

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
    rows_sql, params = summary_rows_sql(time_range)
    clauses = ["s.kind = ?"]
    params = [*params, kind]
    if name is not None:
        clauses.append("s.name = ?")
        params.append(name)
    cursor = conn.execute(
        "SELECT s.name, s.labels, s.unit, r.count, r.sum, r.min, r.max, r.sketch "
        f"FROM ({rows_sql}) AS r JOIN series AS s ON s.id = r.series_id "
        f"WHERE {' AND '.join(clauses)}",
        params,
    )
    mergers: dict[tuple[str, str], Merger] = {}
    units: dict[tuple[str, str], str] = {}
    errors: dict[tuple[str, str], float] = {}
    error_labels: dict[str, bool] = {}
    for series_name, labels, unit, count, total, low, high, blob in cursor:
        if group == "name":
            key = (series_name, "")
        elif group == "labels":
            key = (series_name, labels)
        else:
            key = ("", "")
        merger = mergers.get(key)
        if merger is None:
            merger = mergers[key] = Merger()
            units[key] = unit
            errors[key] = 0.0
        merger.add(count, total, low, high, blob)
        is_error = error_labels.get(labels)
        if is_error is None:
            is_error = error_labels[labels] = _is_error(kind, labels)
        if is_error:
            errors[key] += count
    summaries = []
    for key, merger in mergers.items():
        point = merger.point(0)
        summaries.append(
            Summary(
                kind=kind,
                name=key[0],
                labels=key[1],
                unit=units[key],
                count=point.count,
                sum=point.sum,
                min=point.min,
                max=point.max,
                p50=point.p50,
                p95=point.p95,
                p99=point.p99,
                errors=errors[key],
            )
        )
    summaries.sort(key=lambda s: (-s.count, s.name, s.labels))
    return summaries


def _is_error(kind: str, labels: str) -> bool:
    return kind == "http" and parse_labels(labels).get("status") == ERROR_STATUS
