"""Human-readable numbers with their units, for the dashboard and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

BYTE_UNITS = ("B", "KB", "MB", "GB", "TB")
RATE_UNITS = {"req/min", "queries/min", "renders/min", "per min"}


def format_value(value: float | None, unit: str) -> str:
    """Format ``value`` in ``unit`` (ms, bytes, percent, req/min, ...)."""
    if value is None:
        return "–"
    if unit == "ms":
        return format_ms(value)
    if unit == "bytes":
        return format_bytes(value)
    if unit == "percent":
        return f"{_significant(value)} %"
    if unit in RATE_UNITS:
        return f"{_significant(value)} {unit}"
    if unit in ("count", ""):
        return format_count(value)
    return f"{_significant(value)} {unit}"


def format_axis(value: float, unit: str) -> str:
    """A short axis label: rates as ``2,500/min``, everything else as usual."""
    if unit in RATE_UNITS:
        text = format_count(value) if value >= 100 else _significant(value)
        return f"{text}/min"
    return format_value(value, unit)


def format_step(seconds: int) -> str:
    """A bucket width in words: ``1-minute``, ``30-minute``, ``1-hour``, ``1-day``."""
    for size, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}-{name}"
    return f"{seconds}-second"


def format_ms(value: float) -> str:
    """Durations: sub-millisecond precision when small, seconds when large."""
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def format_bytes(value: float) -> str:
    """Sizes in decimal units: ``61.0 MB``."""
    size = float(value)
    for unit in BYTE_UNITS:
        if abs(size) < 1000 or unit == BYTE_UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def format_count(value: float) -> str:
    """Counts with thousands separators; weighted fractions keep one decimal."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def format_ratio(value: float | None) -> str:
    """A 0..1 ratio as a percentage."""
    if value is None:
        return "–"
    return f"{_significant(value * 100)} %"


def format_time(ts: float | None) -> str:
    """An instant as ``2024-05-01 12:00:00 UTC``."""
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_age(ts: float | None, now: float) -> str:
    """How long ago ``ts`` was: ``4 s ago``, ``3 min ago``."""
    if ts is None:
        return "never"
    seconds = max(0.0, now - ts)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def _significant(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.01:
        return f"{value:.2f}"
    return f"{value:.2g}"
