"""UTC bucket arithmetic shared by rollups, retention and queries."""

from __future__ import annotations

from datetime import UTC, datetime

MINUTE = 60
HOUR = 3600
DAY = 86400
TIER_SECONDS = {"minute": MINUTE, "hour": HOUR}
TIER_TABLES = {"minute": "rollup_minute", "hour": "rollup_hour"}


def floor_to(ts: float, width: int) -> int:
    """Start of the ``width``-second UTC bucket holding ``ts``."""
    return int(ts // width) * width


def iso_utc(ts: float) -> str:
    """Format epoch seconds as ISO 8601 UTC with a ``Z`` suffix."""
    moment = datetime.fromtimestamp(ts, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
