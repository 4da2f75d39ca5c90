"""Hour and day rollups rebuilt from the tier below, and minutes retired.

Mixed into :class:`~metrics_store.store.MetricsStore`, whose ``transaction``
and ``reading`` connections these methods use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from metrics_store.aggregate import Aggregate
from metrics_store.timebuckets import DAY, HOUR, floor_to

# Rebuilt tier: (source table, target table, dirty table, width, the dirty
# table and width of the tier built from it next, if any).
REBUILDS = {
    "hour": ("rollup_minute", "rollup_hour", "dirty_hours", HOUR, ("dirty_days", DAY)),
    "day": ("rollup_hour", "rollup_day", "dirty_days", DAY, None),
}
# Counter below which minute rows were pruned (see ``retire_minutes``).
MINUTE_HORIZON = "minute_pruned_before"


class Rollups:
    """Rollup and minute retirement methods of the metrics store."""

    def rollup_hours(self, *, all_hours: bool = False) -> int:
        """Recompute hour rows from minutes for every changed hour; return hours done.

        Each hour is rebuilt in its own short transaction, so the count, sum,
        min and max of an hour row always equal the merge of its minutes, and
        flushes from other processes wait at most one hour's worth of work.
        The days of rebuilt hours are then rebuilt the same way.
        """
        hours = self._buckets_to_rebuild(
            "rollup_minute", "dirty_hours", HOUR, all_hours
        )
        for hour in hours:
            self._rebuild_bucket("hour", hour)
        self.rollup_days(all_days=all_hours)
        return len(hours)

    def rollup_days(self, *, all_days: bool = False) -> int:
        """Recompute day rows from hours for every changed day; return days done."""
        days = self._buckets_to_rebuild("rollup_hour", "dirty_days", DAY, all_days)
        for day in days:
            self._rebuild_bucket("day", day)
        return len(days)

    def retire_minutes(
        self, cutoff: float, progress: Callable[[int], None] | None = None
    ) -> int:
        """Delete minute rows older than ``cutoff``, an hour at a time; return rows.

        Each step, in one transaction, first rolls up any changed hour it is
        about to clear, then deletes every minute row below the step's end
        and raises the minute horizon to it. So no minute row that was ever
        rolled up survives below the horizon, and an hour rebuilt there
        later folds its late minutes in rather than losing what was pruned.
        """
        with self.reading() as conn:
            hours = [
                row[0]
                for row in conn.execute(
                    f"SELECT DISTINCT (bucket / {HOUR}) * {HOUR} FROM rollup_minute "
                    "WHERE bucket < ? ORDER BY 1",
                    (cutoff,),
                )
            ]
        deleted = 0
        for hour in hours:
            limit = min(hour + HOUR, cutoff)
            with self.transaction() as conn:
                for (dirty,) in conn.execute(
                    "SELECT bucket FROM dirty_hours WHERE bucket < ?", (limit,)
                ).fetchall():
                    self._rebuild_in(conn, "hour", dirty)
                cursor = conn.execute(
                    "DELETE FROM rollup_minute WHERE bucket < ?", (limit,)
                )
                _raise_counter(conn, MINUTE_HORIZON, limit)
            deleted += max(cursor.rowcount, 0)
            if progress is not None:
                progress(deleted)
        return deleted

    def _buckets_to_rebuild(
        self, source: str, dirty: str, width: int, everything: bool
    ) -> list[int]:
        with self.reading() as conn:
            if everything:
                sql = f"SELECT DISTINCT (bucket / {width}) * {width} FROM {source}"
            else:
                sql = f"SELECT bucket FROM {dirty}"
            return sorted(row[0] for row in conn.execute(sql))

    def _rebuild_bucket(self, tier: str, start: int) -> None:
        with self.transaction() as conn:
            self._rebuild_in(conn, tier, start)

    def _rebuild_in(self, conn: sqlite3.Connection, tier: str, start: int) -> None:
        """Rebuild one bucket of ``tier`` from its source rows, inside a transaction.

        Below the minute horizon (see :meth:`retire_minutes`) an hour's
        minutes were pruned, and the few present arrived later and were
        never rolled up: they are folded into the stored hour and removed,
        instead of replacing an hour built from minutes that no longer exist.
        """
        source, target, dirty, width, parent = REBUILDS[tier]
        fold = tier == "hour" and start < _counter(conn, MINUTE_HORIZON)
        merged: dict[int, Aggregate] = {}
        _fold_rows(
            merged,
            conn.execute(
                "SELECT series_id, count, sum, min, max, sketch "
                f"FROM {source} WHERE bucket >= ? AND bucket < ?",
                (start, start + width),
            ),
        )
        if merged and fold:
            _fold_rows(
                merged,
                conn.execute(
                    "SELECT series_id, count, sum, min, max, sketch "
                    f"FROM {target} WHERE bucket = ?",
                    (start,),
                ).fetchall(),
                only_known=True,
            )
            conn.execute(
                f"DELETE FROM {source} WHERE bucket >= ? AND bucket < ?",
                (start, start + width),
            )
        if merged:
            if fold:
                conn.executemany(
                    f"DELETE FROM {target} WHERE bucket = ? AND series_id = ?",
                    [(start, sid) for sid in merged],
                )
            else:
                conn.execute(f"DELETE FROM {target} WHERE bucket = ?", (start,))
            conn.executemany(
                f"INSERT INTO {target} "
                "(bucket, series_id, count, sum, min, max, sketch) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (start, sid, a.count, a.sum, a.min, a.max, a.sketch.to_bytes())
                    for sid, a in merged.items()
                ],
            )
        conn.execute(f"DELETE FROM {dirty} WHERE bucket = ?", (start,))
        if parent is not None:
            table, parent_width = parent
            conn.execute(
                f"INSERT OR IGNORE INTO {table} (bucket) VALUES (?)",
                (floor_to(start, parent_width),),
            )


def _fold_rows(
    merged: dict[int, Aggregate], rows: Iterable[tuple], only_known: bool = False
) -> None:
    """Add ``(series_id, count, sum, min, max, sketch)`` rows into ``merged``.

    With ``only_known``, rows of series not in ``merged`` yet are skipped.
    """
    for series_id, count, total, low, high, blob in rows:
        agg = merged.get(series_id)
        if agg is None:
            if only_known:
                continue
            agg = merged[series_id] = Aggregate()
        agg.count += count
        agg.sum += total
        agg.min = min(agg.min, low)
        agg.max = max(agg.max, high)
        agg.sketch.merge_bytes(blob)


def _counter(conn: sqlite3.Connection, name: str) -> float:
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return row[0] if row else float("-inf")


def _raise_counter(conn: sqlite3.Connection, name: str, value: float) -> None:
    """Set counter ``name`` to ``value`` unless it is already higher."""
    conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
        (name, value),
    )
