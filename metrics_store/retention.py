"""Retention: delete rows past each tier's age in bounded batches."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from metrics_store.store import MetricsStore
from metrics_store.timebuckets import DAY, HOUR, floor_to

logger = logging.getLogger(__name__)

# (table, time column) per tier; rollup keys begin with bucket, so a range
# delete on it walks the primary key.
TIERS = {
    "minute": ("rollup_minute", "bucket"),
    "hour": ("rollup_hour", "bucket"),
    "day": ("rollup_day", "bucket"),
    "events": ("events", "ts"),
}
PROCESS_KEEP_SECONDS = DAY
INCREMENTAL_VACUUM = 2


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each tier keeps its rows, in days."""

    minute_days: float = 7.0
    hour_days: float = 400.0
    events_days: float = 7.0

    def cutoffs(self, now: float) -> dict[str, float]:
        """Return the oldest timestamp each tier keeps at ``now``.

        The minute cutoff is rounded down to a whole hour so that an hour's
        minutes are kept or dropped together: a rebuilt hour row is then
        never made from part of its minutes. Days follow the hour tier's
        retention, and both are rounded down to a whole day for the same
        reason: a day row and its hours go together.
        """
        hours = floor_to(now - self.hour_days * DAY, DAY)
        return {
            "minute": floor_to(now - self.minute_days * DAY, HOUR),
            "hour": hours,
            "day": hours,
            "events": now - self.events_days * DAY,
        }


def count_expired(store: MetricsStore, policy: RetentionPolicy, now: float) -> dict:
    """Return how many rows per tier a prune at ``now`` would delete."""
    counts = {}
    with store.reading() as conn:
        for tier, cutoff in policy.cutoffs(now).items():
            table, column = TIERS[tier]
            (counts[tier],) = conn.execute(
                f"SELECT count(*) FROM {table} WHERE {column} < ?", (cutoff,)
            ).fetchone()
    return counts


def prune(
    store: MetricsStore,
    policy: RetentionPolicy,
    now: float,
    *,
    batch_size: int = 5000,
    vacuum_pages: int = 2000,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Delete expired rows of every tier; return the rows deleted per tier.

    Each batch (an hour of minute rows, or ``batch_size`` rows of the other
    tiers) is its own short transaction, so flushes from other workers slip
    in between batches and memory stays flat whatever the backlog.
    Freed pages are then handed back to the file system a few at a time.
    """
    deleted: dict[str, int] = {}
    for tier, cutoff in policy.cutoffs(now).items():
        table, column = TIERS[tier]
        if tier == "minute":
            # An hour at a time, rolling up what has changed before its
            # minutes go: see MetricsStore.retire_minutes.
            deleted[tier] = store.retire_minutes(
                cutoff,
                progress=(lambda done: progress("minute", done)) if progress else None,
            )
            continue
        deleted[tier] = 0
        while True:
            with store.transaction() as conn:
                if table == "events":
                    cursor = conn.execute(
                        "DELETE FROM events WHERE id IN "
                        "(SELECT id FROM events WHERE ts < ? LIMIT ?)",
                        (cutoff, batch_size),
                    )
                else:
                    cursor = conn.execute(
                        f"DELETE FROM {table} WHERE (bucket, series_id) IN "
                        f"(SELECT bucket, series_id FROM {table} "
                        f"WHERE bucket < ? LIMIT ?)",
                        (cutoff, batch_size),
                    )
            deleted[tier] += cursor.rowcount
            if progress is not None:
                progress(tier, deleted[tier])
            if cursor.rowcount < batch_size:
                break
    with store.transaction() as conn:
        conn.execute(
            "DELETE FROM processes WHERE last_seen < ?", (now - PROCESS_KEEP_SECONDS,)
        )
        conn.execute(
            "DELETE FROM job_runs WHERE started < ?", (now - policy.events_days * DAY,)
        )
    release_free_pages(store, vacuum_pages)
    logger.info("pruned metrics rows %s", deleted)
    return deleted


def release_free_pages(store: MetricsStore, pages_per_step: int = 2000) -> int:
    """Return free pages to the file system in small steps; return pages freed."""
    freed = 0
    while True:
        with store.writing() as conn:
            (mode,) = conn.execute("PRAGMA auto_vacuum").fetchone()
            (free,) = conn.execute("PRAGMA freelist_count").fetchone()
            if free == 0 or mode != INCREMENTAL_VACUUM:
                # A file made without incremental vacuum keeps its free pages
                # for reuse; only a full VACUUM would shrink it.
                return freed
            step = min(free, pages_per_step)
            conn.execute(f"PRAGMA incremental_vacuum({int(step)})").fetchall()
        freed += step
