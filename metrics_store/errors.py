"""Exceptions raised by the metrics storage engine."""


class MetricsError(Exception):
    """Base class for metrics storage errors."""


class QueryError(MetricsError, ValueError):
    """A query parameter is malformed or out of range; the message says why."""


class SketchFormatError(MetricsError, ValueError):
    """A serialized sketch is truncated, corrupt or of an unknown format version."""
