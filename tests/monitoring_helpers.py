"""Reading what the monitoring stored, for assertions in tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from metrics_store.store import TOTAL_NAME


def series_totals(db_path: Path, kind: str | None = None) -> dict[tuple, float]:
    """Return ``{(kind, name, labels): weighted count}`` over all minute rows."""
    if not Path(db_path).exists():
        return {}
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        rows = conn.execute(
            "SELECT s.kind, s.name, s.labels, sum(r.count) FROM rollup_minute r "
            "JOIN series s ON s.id = r.series_id "
            "WHERE ? IS NULL OR s.kind = ? GROUP BY 1, 2, 3",
            (kind, kind),
        ).fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()
    return {(k, n, labels): total for k, n, labels, total in rows}


def endpoint_totals(db_path: Path) -> dict[str, float]:
    """Return request counts per endpoint name, all methods and statuses summed.

    The per-kind ``<all>`` total series is checked against the sum of the
    named series and left out of the result.
    """
    totals: dict[str, float] = {}
    for (_kind, name, _labels), count in series_totals(db_path, "http").items():
        totals[name] = totals.get(name, 0) + count
    whole = totals.pop(TOTAL_NAME, None)
    if whole is not None:
        assert whole == sum(totals.values()), (whole, totals)
    return totals


def query(db_path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Run one read query on a metrics database."""
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def count_or_zero(db_path: Path, sql: str) -> int:
    """Run a ``SELECT count(*)``; 0 while the database or table does not exist yet."""
    try:
        return query(db_path, sql)[0][0]
    except sqlite3.OperationalError:
        return 0
