"""Moving samples from a process's buffer into the store, surviving faults."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping

from metrics_store.aggregate import PendingBatch
from metrics_store.buffer import SampleBuffer
from metrics_store.store import MetricsStore, ProcessStatus

logger = logging.getLogger(__name__)

# Faults of the database or its file system that a later flush may get past.
RECOVERABLE = (sqlite3.Error, OSError, ValueError)


class Flusher:
    """Drains one buffer into one store; keeps and retries what fails to write.

    When a flush fails the aggregated batch stays in memory and later samples
    fold into it, so nothing is lost while the cause lasts. The batch is
    capped: past ``max_pending`` series-minutes the oldest are dropped and
    counted. A failure is logged once when it starts and once when it ends.
    """

    def __init__(
        self,
        buffer: SampleBuffer,
        store: MetricsStore,
        *,
        sample_rate: Mapping[str, float] | None = None,
        slow_ms: Mapping[str, float] | None = None,
        wall_offset: Callable[[], float] | None = None,
        max_pending: int = 10_000,
        live_seconds: float = 60.0,
    ) -> None:
        self.buffer = buffer
        self.sample_rate = dict(sample_rate or {})
        self.sample_rate["process"] = 1.0
        self.slow_ms = dict(slow_ms or {})
        self.slow_ms.pop("process", None)
        self.wall_offset = wall_offset or (lambda: time.time() - time.perf_counter())
        self.store = store
        self.max_pending = max_pending
        self.live_seconds = live_seconds
        self.slot: int | None = None
        self.pending = PendingBatch()
        self.started = time.time()
        self.pid = os.getpid()
        self.gauges: dict[str, float] = {}
        self.last_flush: float | None = None
        self.last_flush_ms: float | None = None
        self.flush_failures = 0
        self.last_error: str | None = None
        self.failing = False
        self._lock = threading.Lock()

    def flush(self, final: bool = False) -> bool:
        """Write everything buffered; return True when it reached the database.

        ``final`` marks this worker as exited, so it leaves the live list and
        frees its slot at once.
        """
        with self._lock:
            if self.pid != os.getpid():
                self._after_fork()
            began = time.perf_counter()
            self.pending.add_raw(
                self.buffer.drain(), self.wall_offset(), self.sample_rate, self.slow_ms
            )
            lost = self.pending.drop_oldest(self.max_pending)
            if lost:
                self.buffer.count_dropped(round(lost))
            status = ProcessStatus(
                pid=self.pid,
                started=self.started,
                buffered=len(self.buffer),
                dropped=self.buffer.dropped,
                flush_failures=self.flush_failures,
                last_flush=self.last_flush,
                flush_ms=self.last_flush_ms,
                gauges=dict(self.gauges),
                slot=self.slot,
                exited=time.time() if final else None,
            )
            try:
                self.store.write_batch(self.pending, status)
            except RECOVERABLE as exc:
                self._failed(exc)
                return False
            self.pending.clear()
            self.last_flush = time.time()
            self.last_flush_ms = (time.perf_counter() - began) * 1000.0
            if self.failing:
                self.failing = False
                logger.warning(
                    "metrics database %s is writable again after %d failed "
                    "flushes; buffered samples were written",
                    self.store.path,
                    self.flush_failures,
                )
            return True

    def worker_slot(self) -> int | None:
        """This worker's slot number, claimed on first use.

        None while the database cannot be written; the claim is retried on
        the next call.
        """
        with self._lock:
            if self.pid != os.getpid():
                self._after_fork()
            if self.slot is None:
                try:
                    self.slot = self.store.claim_slot(
                        self.pid, self.started, time.time(), self.live_seconds
                    )
                except RECOVERABLE as exc:
                    logger.debug("cannot claim a worker slot yet: %s", exc)
                    return None
            return self.slot

    def _failed(self, exc: BaseException) -> None:
        self.flush_failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        # Drop the connection so the next attempt reopens (file replaced, etc.).
        self.store.close()
        if not self.failing:
            self.failing = True
            logger.error(
                "cannot write metrics to %s (%s); samples are kept in memory "
                "(up to the buffer cap) and flushing retries every interval",
                self.store.path,
                self.last_error,
            )

    def _after_fork(self) -> None:
        self.pending = PendingBatch()
        self.pid = os.getpid()
        self.started = time.time()
        self.slot = None
        self.gauges = {}
        self.last_flush = None
        self.last_flush_ms = None
        self.last_error = None
        self.flush_failures = 0
        self.failing = False

    def status(self) -> dict:
        """The flusher's own health, for ``/health?detailed=1``."""
        return {
            "pid": self.pid,
            "slot": self.slot,
            "buffered": len(self.buffer),
            "pending_series_minutes": len(self.pending),
            "dropped": self.buffer.dropped,
            "last_flush": self.last_flush,
            "flush_ms": self.last_flush_ms,
            "flush_failures": self.flush_failures,
            "failing": self.failing,
            "last_error": self.last_error,
        }
