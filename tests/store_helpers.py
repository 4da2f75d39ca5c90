"""Shared builders and readers for the ``metrics_store`` tests.

The worker functions at the bottom run in child processes started with the
``spawn`` method, so they live in an importable module rather than a test file.
"""

from __future__ import annotations

import math
import multiprocessing
import sqlite3
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from metrics_store.aggregate import PendingBatch
from metrics_store.buffer import NOT_EVENT, SampleBuffer
from metrics_store.flusher import Flusher
from metrics_store.sketch import QuantileSketch
from metrics_store.store import TOTAL_NAME, MetricsStore

LABELS = "method=GET;status=2xx"

# Raw samples built here carry clock readings this many seconds behind wall
# time, so a flusher must add the offset back to land them in their minute.
# Being within a factor of two of the timestamps keeps the round trip exact.
CLOCK_TO_WALL = 1_000_000_000.0


def make_sample(
    ts: float,
    value: float,
    *,
    kind: str = "http",
    name: str = "public.index",
    labels: str = LABELS,
    weight: float = 1.0,
    detail: str | None = None,
    event: int = NOT_EVENT,
) -> tuple:
    """Build a raw sample tuple in the field order of ``metrics_store.Sample``."""
    return (ts, kind, name, labels, value, weight, detail, event)


def make_raw(
    ts: float,
    value: float,
    *,
    kind: str = "http",
    name: str = "public.index",
    labels: str = LABELS,
    error: bool = False,
    detail: str | None = None,
) -> tuple:
    """Build a recorder's raw sample that ends at wall time ``ts``.

    The end is a clock reading ``CLOCK_TO_WALL`` behind ``ts``; flush it with
    :func:`make_flusher` (or ``wall_offset=clock_to_wall``) to get ``ts`` back.
    """
    return (ts - CLOCK_TO_WALL, kind, name, labels, value, error, detail)


def clock_to_wall() -> float:
    """The wall offset that turns :func:`make_raw` ends back into wall time."""
    return CLOCK_TO_WALL


def make_flusher(buffer: SampleBuffer, store: MetricsStore, **options) -> Flusher:
    """A flusher whose wall offset matches the ends of :func:`make_raw`."""
    return Flusher(buffer, store, wall_offset=clock_to_wall, **options)


def exact_percentile(values: Iterable[float], q: float) -> float:
    """The exact nearest-rank percentile: ``sorted(v)[ceil(q * n) - 1]``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(round(q * len(ordered), 9)) - 1)]


def relative_error(estimate: float, exact: float) -> float:
    """Relative distance of ``estimate`` from ``exact`` (which must not be 0)."""
    return abs(estimate - exact) / abs(exact)


def write_samples(store: MetricsStore, samples: Iterable[tuple]) -> int:
    """Fold ``samples`` into a batch and write it; return the rows upserted."""
    batch = PendingBatch()
    batch.add_samples(samples)
    return store.write_batch(batch)


def pack_v1(bins: dict[int, float], zero_count: float = 0.0) -> bytes:
    """Serialize buckets in sketch format version 1, as databases before 2 hold.

    Written from the format's description, independently of the decoder:
    ``<BBdI`` version, flags, zero count, n; n int32 keys; n uint32 counts,
    or n doubles when flag 1 is set.
    """
    keys = sorted(bins)
    counts = [bins[key] for key in keys]
    whole = all(float(c).is_integer() and 0 <= c < 2**32 for c in counts)
    header = struct.pack("<BBdI", 1, 0 if whole else 1, zero_count, len(keys))
    body = struct.pack(f"<{len(keys)}i", *keys)
    if whole:
        return header + body + struct.pack(f"<{len(keys)}I", *map(int, counts))
    return header + body + struct.pack(f"<{len(keys)}d", *counts)


class Row(NamedTuple):
    """One rollup row as read back from the file."""

    count: float
    sum: float
    min: float
    max: float
    sketch: QuantileSketch


def read_rollup(
    path: Path, table: str = "rollup_minute", *, totals: bool = False
) -> dict[tuple, Row]:
    """Map ``(bucket, kind, name, labels)`` to its row, read with a fresh connection.

    The per-kind total series are left out unless ``totals`` is true.
    """
    if table not in ("rollup_minute", "rollup_hour", "rollup_day"):
        raise ValueError(f"not a rollup table: {table!r}")
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            f"SELECT r.bucket, s.kind, s.name, s.labels, r.count, r.sum, r.min, "
            f"r.max, r.sketch FROM {table} r JOIN series s ON s.id = r.series_id"
        ).fetchall()
        (orphans,) = conn.execute(
            f"SELECT count(*) FROM {table} WHERE series_id NOT IN "
            f"(SELECT id FROM series)"
        ).fetchone()
    finally:
        conn.close()
    if orphans:
        raise AssertionError(f"{orphans} rows of {table} point at no series")
    return {
        (bucket, kind, name, labels): Row(
            count, total, low, high, QuantileSketch.from_bytes(blob)
        )
        for bucket, kind, name, labels, count, total, low, high, blob in rows
        if totals or name != TOTAL_NAME
    }


def query_all(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Run one read query on a fresh connection and return every row."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


def run_processes(jobs: list[tuple[Callable, tuple]], timeout: float = 60) -> list:
    """Start ``(target, args)`` jobs in spawned processes at once; return reports.

    Each target gets a shared barrier and a result queue after its own
    arguments, and must put exactly one report on the queue.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(jobs))
    results = context.Queue()
    workers = [
        context.Process(target=target, args=(*args, barrier, results))
        for target, args in jobs
    ]
    for worker in workers:
        worker.start()
    try:
        reports = [results.get(timeout=timeout) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=timeout)
            if worker.is_alive():
                worker.kill()
    exit_codes = [worker.exitcode for worker in workers]
    if exit_codes != [0] * len(workers):
        raise AssertionError(f"worker exit codes {exit_codes}")
    return reports


# -- workers for spawned processes -------------------------------------------

WORKER_SERIES = ("public.index", "public.note", "feed.rss")
WORKER_BASE_TS = 1_699_999_980.0  # a UTC minute boundary


def flush_worker(path: str, worker: int, seconds: float, barrier, results) -> None:
    """Flush many small batches into ``path`` for ``seconds``; report what was sent.

    Values and timestamps depend only on the worker and batch number, so the
    parent can tell from the report exactly what must be in the file.
    """
    buffer = SampleBuffer()
    flusher = make_flusher(buffer, MetricsStore(path))
    sent: dict[str, list[float]] = {name: [0, 0.0] for name in WORKER_SERIES}
    batches = failed = 0
    barrier.wait(timeout=60)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or batches < 20:
        for i in range(60):
            name = WORKER_SERIES[i % len(WORKER_SERIES)]
            value = float(1 + (worker * 7 + batches * 3 + i) % 500)
            ts = WORKER_BASE_TS + (batches % 5) * 60 + i
            buffer.append(make_raw(ts, value, name=name))
            sent[name][0] += 1
            sent[name][1] += value
        if not flusher.flush():
            failed += 1
        batches += 1
    results.put(
        {
            "worker": worker,
            "batches": batches,
            "failed": failed,
            "last_error": flusher.last_error,
            "sent": sent,
        }
    )


def rollup_worker(path: str, seconds: float, barrier, results) -> None:
    """Rebuild hour rows over and over while flushers write; report errors."""
    store = MetricsStore(path)
    barrier.wait(timeout=60)
    deadline = time.monotonic() + seconds
    runs = 0
    error = None
    try:
        while time.monotonic() < deadline:
            store.rollup_hours()
            runs += 1
    except sqlite3.Error as exc:
        error = f"{type(exc).__name__}: {exc}"
    results.put({"rollup_runs": runs, "error": error})


def migrate_worker(path: str, barrier, results) -> None:
    """Apply the metrics migrations with a raw connection; report the versions run."""
    from metrics_store.migrate import apply_migrations
    from metrics_store.store import default_migrations_dir

    barrier.wait(timeout=60)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        results.put(apply_migrations(conn, default_migrations_dir()))
    finally:
        conn.close()


def open_store_worker(path: str, barrier, results) -> None:
    """Open a store the way a worker does at start-up and write one sample."""
    store = MetricsStore(path)
    barrier.wait(timeout=60)
    try:
        write_samples(store, [make_sample(WORKER_BASE_TS, 5.0)])
    except sqlite3.Error as exc:
        results.put(f"{type(exc).__name__}: {exc}")
        return
    results.put("ok")


def claim_worker(path: str, job: str, periods: int, barrier, results) -> None:
    """Try to claim every period of ``job``; report the periods won."""
    store = MetricsStore(path)
    store.connection()
    barrier.wait(timeout=60)
    won = [period for period in range(periods) if store.claim_job(job, period)]
    results.put(won)


def release_pages_worker(path: str) -> None:
    """Run a prune's page release on ``path`` (the parent bounds how long it takes)."""
    from metrics_store.retention import release_free_pages

    release_free_pages(MetricsStore(path))
