"""The collection point: what sensors call for every measurement.

The hot path appends one small tuple to the process's buffer and does
nothing else. A raw sample is ``(end, kind, name, labels, value, error,
detail)`` where ``end`` is the ``perf_counter`` reading when the operation
finished; turning it into wall time, a weight and an event flag waits for
the flush (see :meth:`PendingBatch.add_raw`), off the request's path.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping

from metrics_store.buffer import SampleBuffer

RecordFn = Callable[..., None]


def _perf_counter() -> float:
    # Looked up at each call, so a patched clock (as in tests) is honoured.
    return time.perf_counter()


UNSAMPLED_KINDS = ("process",)


class Recorder:
    """Keeps each sample, or drops it by the kind's sample rate.

    A sample at or over its kind's slow threshold, or one marked as an error,
    is always kept. Others are kept with probability ``rate``; at flush they
    get weight ``1 / rate``, so weighted totals stay unbiased. A rate of 1.0
    keeps everything with weight 1, so counts are exact.
    """

    def __init__(
        self,
        buffer: SampleBuffer,
        sample_rate: Mapping[str, float] | None = None,
        slow_ms: Mapping[str, float] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.buffer = buffer
        self.sample_rate = dict(sample_rate or {})
        for kind in UNSAMPLED_KINDS:
            self.sample_rate[kind] = 1.0
        self.slow_ms = dict(slow_ms or {})
        self.clock = clock or _perf_counter

    def record(
        self,
        kind: str,
        name: str,
        labels: str,
        value: float,
        error: bool = False,
        detail: str | None = None,
        end: float | None = None,
    ) -> None:
        """Record one measurement of ``kind`` (``value`` in ms for timings)."""
        if end is None:
            end = self.clock()
        self.for_kind(kind)(name, labels, value, end, error, detail)

    def for_kind(self, kind: str) -> RecordFn:
        """Return a fast ``record(name, labels, value, end, error, detail)`` function.

        ``end`` is the ``perf_counter`` reading the sensor took when the
        operation finished; sensors have it anyway, so the hot path reads no
        clock of its own.
        """
        buffer = self.buffer
        samples = buffer._samples
        append = samples.append
        cap = buffer.max_samples
        rate = self.sample_rate.get(kind, 1.0)
        slow = self.slow_ms.get(kind, math.inf)

        if rate >= 1.0:

            def record(name, labels, value, end, error=False, detail=None):
                if len(samples) >= cap:
                    buffer.count_dropped(1)
                append((end, kind, name, labels, value, error, detail))

            return record

        def record_sampled(name, labels, value, end, error=False, detail=None):
            if error or value >= slow or random.random() < rate:
                if len(samples) >= cap:
                    buffer.count_dropped(1)
                append((end, kind, name, labels, value, error, detail))

        return record_sampled

    def gauge(self, name: str, labels: str, value: float) -> None:
        """Record a process gauge; gauges are never sampled away."""
        self.buffer.append((self.clock(), "process", name, labels, value, False, None))

    def wall_offset(self) -> float:
        """Seconds to add to this recorder's clock readings to get epoch time."""
        return time.time() - self.clock()
