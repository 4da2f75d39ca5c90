"""Folding raw samples into per-minute aggregates before they are written."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from metrics_store.buffer import EVENT_ERROR, EVENT_SLOW
from metrics_store.sketch import INV_LOG_GAMMA, MIN_INDEXABLE, QuantileSketch
from metrics_store.timebuckets import MINUTE

SeriesKey = tuple[str, str, str]  # kind, name, labels
_INF = math.inf


class Aggregate:
    """Count, sum, min, max and sketch of one series in one bucket."""

    __slots__ = ("count", "sum", "min", "max", "sketch")

    def __init__(self) -> None:
        self.count = 0.0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.sketch = QuantileSketch()

    def merge(self, other: Aggregate) -> None:
        """Fold ``other`` into this aggregate."""
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.sketch.merge(other.sketch)


class PendingBatch:
    """Aggregates and events waiting to be written; survives failed flushes."""

    def __init__(self) -> None:
        self.aggregates: dict[tuple[SeriesKey, int], Aggregate] = {}
        self.events: list[tuple] = []
        self.samples = 0

    def __len__(self) -> int:
        return len(self.aggregates)

    def add_samples(self, samples: Iterable[tuple]) -> None:
        """Fold raw sample tuples (see ``metrics_store.buffer.Sample``) in."""
        aggregates = self.aggregates
        events = self.events
        log = math.log
        ceil = math.ceil
        count = 0
        for sample in samples:
            ts, kind, name, labels, value, weight, _detail, event = sample
            count += 1
            key = ((kind, name, labels), int(ts // MINUTE) * MINUTE)
            agg = aggregates.get(key)
            if agg is None:
                agg = aggregates[key] = Aggregate()
            agg.count += weight
            agg.sum += value * weight
            if value < agg.min:
                agg.min = value
            if value > agg.max:
                agg.max = value
            sketch = agg.sketch
            if value > MIN_INDEXABLE:
                bucket = ceil(log(value) * INV_LOG_GAMMA)
                bins = sketch.bins
                bins[bucket] = bins.get(bucket, 0.0) + weight
            else:
                sketch.zero_count += weight
            if event:
                events.append(sample)
        self.samples += count

    def add_raw(
        self,
        raw: Iterable[tuple],
        wall_offset: float,
        sample_rate: Mapping[str, float],
        slow_ms: Mapping[str, float],
    ) -> None:
        """Fold raw samples from a :class:`~metrics_store.recorder.Recorder` in.

        Wall time is ``end + wall_offset``; errors and slow samples weigh 1
        and become events, the rest weigh ``1 / rate`` of their kind. The
        aggregates are those :meth:`add_samples` makes of the same samples
        with those fields filled in, but only events get a full sample tuple:
        this loop runs once for every sample of every flush.
        """
        weights = {kind: 1.0 / rate for kind, rate in sample_rate.items() if rate > 0}
        # One (slow threshold, weight) pair per kind, looked up once a flush.
        per_kind: dict[str, tuple[float, float]] = {}
        aggregates = self.aggregates
        events = self.events
        log = math.log
        ceil = math.ceil
        count = 0
        for end, kind, name, labels, value, error, detail in raw:
            count += 1
            limits = per_kind.get(kind)
            if limits is None:
                limits = per_kind[kind] = (
                    slow_ms.get(kind, _INF),
                    weights.get(kind, 1.0),
                )
            ts = end + wall_offset
            if error or value >= limits[0]:
                weight = 1.0
                event = EVENT_ERROR if error else EVENT_SLOW
                events.append((ts, kind, name, labels, value, 1.0, detail, event))
            else:
                weight = limits[1]
            key = ((kind, name, labels), int(ts // MINUTE) * MINUTE)
            agg = aggregates.get(key)
            if agg is None:
                agg = aggregates[key] = Aggregate()
            agg.count += weight
            agg.sum += value * weight
            if value < agg.min:
                agg.min = value
            if value > agg.max:
                agg.max = value
            if value > MIN_INDEXABLE:
                bucket = ceil(log(value) * INV_LOG_GAMMA)
                bins = agg.sketch.bins
                bins[bucket] = bins.get(bucket, 0.0) + weight
            else:
                agg.sketch.zero_count += weight
        self.samples += count

    def drop_oldest(self, keep: int) -> float:
        """Keep the ``keep`` newest aggregates; return the weight dropped."""
        if len(self.aggregates) <= keep:
            return 0.0
        ordered = sorted(self.aggregates, key=lambda item: item[1])
        dropped = 0.0
        for key in ordered[: len(ordered) - keep]:
            dropped += self.aggregates.pop(key).count
        return dropped

    def clear(self) -> None:
        """Forget everything (after a successful write)."""
        self.aggregates = {}
        self.events = []
        self.samples = 0
