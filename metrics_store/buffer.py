"""A bounded, thread-safe, fork-aware buffer of raw samples for one process."""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from typing import NamedTuple

NOT_EVENT = 0
EVENT_SLOW = 1
EVENT_ERROR = 2


class Sample(NamedTuple):
    """One measurement. The hot path appends plain tuples in this field order."""

    ts: float  # UTC epoch seconds when the operation finished
    kind: str  # http, db, render or process
    name: str  # endpoint, normalized statement, template or gauge name
    labels: str  # canonical "k=v;k=v", sorted by key
    value: float  # milliseconds, or the gauge's own unit
    weight: float  # how many operations this sample stands for (1 / rate)
    detail: str | None  # slow log detail: statement, request id, error
    event: int  # NOT_EVENT, EVENT_SLOW or EVENT_ERROR: events are also kept one by one


class SampleBuffer:
    """Holds samples between flushes; when full the oldest are dropped and counted.

    ``deque.append`` and ``popleft`` are atomic under the GIL, so recording
    takes no lock. After ``fork`` the child starts empty, so it never flushes
    samples that belong to its parent.
    """

    def __init__(self, max_samples: int = 100_000) -> None:
        if max_samples < 1:
            raise ValueError(f"max_samples must be at least 1, got {max_samples!r}")
        self.max_samples = max_samples
        self._samples: deque[tuple] = deque(maxlen=max_samples)
        self._dropped = 0
        self._drain_lock = threading.Lock()
        self.pid = os.getpid()
        _live_buffers.add(self)

    def append(self, sample: tuple) -> None:
        """Add one sample tuple (fields as in :class:`Sample`)."""
        samples = self._samples
        if len(samples) >= self.max_samples:
            self._dropped += 1
        samples.append(sample)

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def dropped(self) -> int:
        """Samples lost to the size cap since this process started."""
        return self._dropped

    def count_dropped(self, count: int) -> None:
        """Count samples dropped elsewhere (such as a pending batch over its cap)."""
        self._dropped += count

    def drain(self, limit: int | None = None) -> list[tuple]:
        """Remove and return up to ``limit`` of the oldest samples."""
        with self._drain_lock:
            samples = self._samples
            size = len(samples) if limit is None else min(limit, len(samples))
            popleft = samples.popleft
            out = []
            try:
                for _ in range(size):
                    out.append(popleft())
            except IndexError:
                pass
            return out

    def _after_fork_in_child(self) -> None:
        self._samples.clear()
        self._dropped = 0
        self._drain_lock = threading.Lock()
        self.pid = os.getpid()


_live_buffers: weakref.WeakSet[SampleBuffer] = weakref.WeakSet()


def _reset_buffers_in_child() -> None:
    for buffer in list(_live_buffers):
        buffer._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_buffers_in_child)
