"""Framework-agnostic storage engine for StarPunk's performance metrics.

Samples go into a bounded per-process :class:`SampleBuffer`; a flush folds them
into minute rollups in a shared SQLite database (:class:`MetricsStore`), where
hour rollups, retention and range queries work on series and time buckets.
"""

from metrics_store.buffer import Sample, SampleBuffer
from metrics_store.errors import MetricsError, QueryError
from metrics_store.sketch import QuantileSketch

__all__ = [
    "MetricsError",
    "QuantileSketch",
    "QueryError",
    "Sample",
    "SampleBuffer",
]
