"""The collection point: sampling and slow detection in front of the buffer."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping

from metrics_store.buffer import EVENT_ERROR, EVENT_SLOW, NOT_EVENT, SampleBuffer


class Recorder:
    """Decides per sample whether to keep it, and with what weight.

    A sample at or over its kind's slow threshold, or one marked as an error,
    is always kept with weight 1 and flagged as an event. Others are kept with
    probability ``rate`` and weight ``1 / rate``, so weighted totals stay
    unbiased; a rate of 1.0 keeps everything with weight 1.
    """

    def __init__(
        self,
        buffer: SampleBuffer,
        sample_rate: Mapping[str, float] | None = None,
        slow_ms: Mapping[str, float] | None = None,
        clock=time.time,
    ) -> None:
        self.buffer = buffer
        self.sample_rate = dict(sample_rate or {})
        self.slow_ms = dict(slow_ms or {})
        self._clock = clock

    def record(
        self,
        kind: str,
        name: str,
        labels: str,
        value: float,
        error: bool = False,
        detail: str | None = None,
    ) -> None:
        """Record one measurement of ``kind`` (``value`` in ms for timings)."""
        if error:
            self.buffer.append(
                (self._clock(), kind, name, labels, value, 1.0, detail, EVENT_ERROR)
            )
            return
        if value >= self.slow_ms.get(kind, math.inf):
            self.buffer.append(
                (self._clock(), kind, name, labels, value, 1.0, detail, EVENT_SLOW)
            )
            return
        rate = self.sample_rate.get(kind, 1.0)
        if rate >= 1.0:
            self.buffer.append(
                (self._clock(), kind, name, labels, value, 1.0, None, NOT_EVENT)
            )
        elif random.random() < rate:
            self.buffer.append(
                (self._clock(), kind, name, labels, value, 1.0 / rate, None, NOT_EVENT)
            )

    def gauge(self, name: str, labels: str, value: float) -> None:
        """Record a process gauge; gauges are never sampled away."""
        self.buffer.append(
            (self._clock(), "process", name, labels, value, 1.0, None, NOT_EVENT)
        )
