"""Range parameters: parse and validate what a caller asks to read.

Every consumer (JSON, CSV, dashboard, CLI) reads the same parameters:
``range`` (a preset ending now) or ``from``/``to`` (ISO 8601), ``resolution``
(``auto``, ``minute`` or ``hour``), and an optional ``kind`` and ``name``.

Auto resolution uses minute buckets for ranges up to 6 hours (at most 360
points a line) and hour buckets beyond (at most 2,160 for 90 days). The
cost of a chart grows with series times buckets, because every bucket's
percentiles merge the sketches of every series in it; an explicit
``resolution=minute`` still shows up to 7 days minute by minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from metrics_store.errors import QueryError
from metrics_store.timebuckets import DAY, HOUR, TIER_SECONDS, floor_to, iso_utc

PRESETS: dict[str, int] = {
    "1h": HOUR,
    "6h": 6 * HOUR,
    "24h": DAY,
    "7d": 7 * DAY,
    "30d": 30 * DAY,
    "90d": 90 * DAY,
}
DEFAULT_PRESET = "24h"
RESOLUTIONS = ("auto", "minute", "hour")
KINDS = ("http", "db", "render", "process")

# Auto picks minute buckets up to this span, hour buckets beyond it.
AUTO_MINUTE_MAX_SECONDS = 6 * HOUR
# Minute buckets over longer spans make too many points to chart or ship.
MAX_MINUTE_SPAN_SECONDS = 7 * DAY
# Hour rollups are kept 400 days by default; longer ranges can only be empty.
MAX_SPAN_SECONDS = 400 * DAY
MAX_NAME_CHARS = 500
PARAMETERS = ("range", "from", "to", "resolution", "kind", "name")

_PRESET_LIST = ", ".join(PRESETS)


@dataclass(frozen=True)
class TimeRange:
    """A half-open span ``[start, end)`` of UTC epoch seconds at one resolution.

    ``start`` and ``end`` are aligned to the resolution's bucket width;
    ``preset`` names the range it came from, or is None for ``from``/``to``.
    """

    start: int
    end: int
    resolution: str
    preset: str | None = None

    @property
    def step(self) -> int:
        """Bucket width in seconds."""
        return TIER_SECONDS[self.resolution]

    @property
    def span(self) -> int:
        """Length of the range in seconds."""
        return self.end - self.start

    def buckets(self) -> range:
        """Start of every bucket in the range, oldest first."""
        return range(self.start, self.end, self.step)

    @property
    def start_iso(self) -> str:
        """Start as ISO 8601 UTC."""
        return iso_utc(self.start)

    @property
    def end_iso(self) -> str:
        """End (exclusive) as ISO 8601 UTC."""
        return iso_utc(self.end)


@dataclass(frozen=True)
class MetricsQuery:
    """A validated request for metrics: a time range and an optional filter."""

    time_range: TimeRange
    kind: str | None = None
    name: str | None = None


def parse_query(
    params: Mapping[str, str | None],
    now: float,
    *,
    default_preset: str = DEFAULT_PRESET,
    minute_days: float | None = None,
) -> MetricsQuery:
    """Validate ``range``/``from``/``to``/``resolution``/``kind``/``name``.

    Empty values count as absent, as an HTML form sends them. Raises
    :class:`QueryError` with a message naming the parameter, the value and
    what would be accepted. With ``minute_days`` (the minute tier's
    retention), a range starting before the oldest kept minute gets hour
    buckets when the resolution is ``auto``, and a clear error when minute
    buckets were asked for: they would come back empty.
    """
    values = {key: _clean(params.get(key)) for key in PARAMETERS}
    resolution = values["resolution"] or "auto"
    arguments = {
        "preset": values["range"],
        "start": values["from"],
        "end": values["to"],
        "now": now,
        "default_preset": default_preset,
    }
    time_range = parse_time_range(resolution=resolution, **arguments)
    if (
        minute_days is not None
        and time_range.resolution == "minute"
        and time_range.start < floor_to(now - minute_days * DAY, HOUR)
    ):
        if resolution != "auto":
            raise QueryError(
                f"minute buckets are kept for {minute_days:g} "
                f"day{'' if minute_days == 1 else 's'} "
                "(STARPUNK_METRICS_RETAIN_MINUTE_DAYS) and this range starts "
                "before that; use resolution=hour or auto, or a later from."
            )
        time_range = parse_time_range(resolution="hour", **arguments)
    return MetricsQuery(
        time_range=time_range,
        kind=parse_kind(values["kind"]),
        name=parse_name(values["name"]),
    )


def parse_time_range(
    *,
    preset: str | None = None,
    start: str | None = None,
    end: str | None = None,
    resolution: str = "auto",
    now: float,
    default_preset: str = DEFAULT_PRESET,
) -> TimeRange:
    """Build a :class:`TimeRange` from a preset or ISO 8601 bounds."""
    if resolution not in RESOLUTIONS:
        raise QueryError(
            f"resolution must be one of {', '.join(RESOLUTIONS)}; got {resolution!r}."
        )
    if preset is not None and (start is not None or end is not None):
        raise QueryError(
            f"give either range or from/to, not both; got range={preset!r} "
            "together with from/to."
        )
    if start is None and end is None:
        return _preset_range(preset or default_preset, resolution, now)
    return _custom_range(start, end, resolution, now)


def _preset_range(preset: str, resolution: str, now: float) -> TimeRange:
    span = PRESETS.get(preset)
    if span is None:
        raise QueryError(
            f"unknown range {preset!r}; use one of {_PRESET_LIST}, "
            "or give from/to as ISO 8601 times."
        )
    resolution = _resolve(resolution, span)
    step = TIER_SECONDS[resolution]
    # The current, still filling bucket is the last one shown.
    end = floor_to(now, step) + step
    return TimeRange(start=end - span, end=end, resolution=resolution, preset=preset)


def _custom_range(
    start_text: str | None, end_text: str | None, resolution: str, now: float
) -> TimeRange:
    end = parse_instant("to", end_text) if end_text is not None else now
    if start_text is None:
        raise QueryError(
            f"from is required when to is given (to={end_text!r}); "
            "give from as an ISO 8601 time such as 2024-05-01T12:00:00Z."
        )
    start = parse_instant("from", start_text)
    if start >= end:
        raise QueryError(
            f"from must be before to; got from={iso_utc(start)} and to={iso_utc(end)}."
        )
    resolution = _resolve(resolution, end - start)
    step = TIER_SECONDS[resolution]
    aligned_start = floor_to(start, step)
    aligned_end = -floor_to(-end, step)
    return TimeRange(start=aligned_start, end=aligned_end, resolution=resolution)


def _resolve(resolution: str, span: float) -> str:
    days = span / DAY
    if span > MAX_SPAN_SECONDS:
        raise QueryError(
            f"the range spans {days:.0f} days; at most "
            f"{MAX_SPAN_SECONDS // DAY} days of history are kept, "
            "so ask for a shorter range."
        )
    if resolution == "auto":
        return "minute" if span <= AUTO_MINUTE_MAX_SECONDS else "hour"
    if resolution == "minute" and span > MAX_MINUTE_SPAN_SECONDS:
        raise QueryError(
            f"minute resolution covers at most {MAX_MINUTE_SPAN_SECONDS // DAY} "
            f"days and this range spans {days:.1f} days; use resolution=hour "
            "or a shorter range."
        )
    return resolution


def parse_instant(field: str, text: str) -> float:
    """Parse an ISO 8601 time (``Z`` or an offset; naive means UTC) to epoch seconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(
            f"{field} is not an ISO 8601 time: {text!r}; use a form such as "
            "2024-05-01T12:00:00Z, 2024-05-01T14:00+02:00 or 2024-05-01."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        seconds = moment.timestamp()
    except (OverflowError, OSError, ValueError):
        raise QueryError(f"{field} is out of range: {text!r}.") from None
    if seconds < 0:
        raise QueryError(
            f"{field} must not be before 1970-01-01T00:00:00Z; got {text!r}."
        )
    return seconds


def parse_kind(kind: str | None) -> str | None:
    """Check ``kind`` is a known series kind (or absent)."""
    if kind is not None and kind not in KINDS:
        raise QueryError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    return kind


def parse_name(name: str | None) -> str | None:
    """Check ``name`` is a plausible series name (or absent)."""
    if name is not None and len(name) > MAX_NAME_CHARS:
        raise QueryError(
            f"name must be at most {MAX_NAME_CHARS} characters; "
            f"got {len(name)} characters."
        )
    return name


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value)
    return value if value.strip() else None
