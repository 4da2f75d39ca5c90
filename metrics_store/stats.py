"""What the metrics database holds: rows, series and time span per tier."""

from __future__ import annotations

import sqlite3
from typing import Any

from metrics_store.rollup import MINUTE_HORIZON
from metrics_store.store import TOTAL_NAME

# (name, table, time column); rollup keys begin with bucket, events are indexed.
TIER_SOURCES = (
    ("minute", "rollup_minute", "bucket"),
    ("hour", "rollup_hour", "bucket"),
    ("day", "rollup_day", "bucket"),
    ("events", "events", "ts"),
)


def store_stats(conn: sqlite3.Connection) -> dict[str, Any]:
    """Return rows, oldest and newest per tier, series per kind, and counters."""
    tiers = {}
    for tier, table, column in TIER_SOURCES:
        rows, oldest, newest = conn.execute(
            f"SELECT count(*), min({column}), max({column}) FROM {table}"
        ).fetchone()
        tiers[tier] = {"rows": rows, "oldest": oldest, "newest": newest}
    series = dict(
        conn.execute(
            "SELECT kind, count(*) FROM series WHERE name != ? "
            "GROUP BY kind ORDER BY kind",
            (TOTAL_NAME,),
        )
    )
    (dirty,) = conn.execute("SELECT count(*) FROM dirty_hours").fetchone()
    (processes,) = conn.execute("SELECT count(*) FROM processes").fetchone()
    counters = dict(
        conn.execute(
            "SELECT name, value FROM counters WHERE name != ? ORDER BY name",
            (MINUTE_HORIZON,),
        )
    )
    return {
        "tiers": tiers,
        "series": series,
        "dirty_hours": dirty,
        "processes": processes,
        "counters": counters,
    }
