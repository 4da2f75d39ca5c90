"""Monitoring configuration: defaults, parsing and validation."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from starpunk.errors import ConfigError

KINDS = ("http", "db", "render", "process")
# Ten years: beyond that a typo, not a plan.
MAX_RETAIN_DAYS = 3650.0

METRICS_DEFAULTS: dict[str, Any] = {
    "METRICS_ENABLED": True,
    "METRICS_DB": None,
    "METRICS_FLUSH_SECONDS": 10.0,
    "METRICS_SAMPLE_RATE": 1.0,
    "METRICS_SLOW_MS": {"http": 500.0, "db": 100.0, "render": 100.0},
    "METRICS_PROCESS_SECONDS": 15.0,
    "METRICS_RETAIN_MINUTE_DAYS": 7.0,
    "METRICS_RETAIN_HOUR_DAYS": 400.0,
    "METRICS_RETAIN_EVENTS_DAYS": 7.0,
    "METRICS_BUFFER_MAX": 100_000,
    "METRICS_MAX_SERIES": 2000,
    # Start the background flush scheduler; tests that flush by hand turn it off.
    "METRICS_SCHEDULER": True,
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class MetricsSettings:
    """Validated monitoring settings."""

    enabled: bool = True
    db_path: str | None = None
    flush_seconds: float = 10.0
    sample_rate: dict[str, float] = field(default_factory=dict)
    slow_ms: dict[str, float] = field(default_factory=dict)
    process_seconds: float = 15.0
    retain_minute_days: float = 7.0
    retain_hour_days: float = 400.0
    retain_events_days: float = 7.0
    buffer_max: int = 100_000
    max_series: int = 2000
    scheduler: bool = True


def parse_bool(key: str, value: Any) -> bool:
    """Read a boolean from a bool or a string such as ``1``/``0``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{key} must be 1 or 0 (or true/false), got {value!r}.")


def parse_number(
    key: str, value: Any, *, minimum: float, maximum: float = math.inf
) -> float:
    """Read a finite number within ``[minimum, maximum]``."""
    if isinstance(value, bool):
        # JSON true/false would otherwise pass as 1 and 0.
        raise ConfigError(f"{key} must be a number, got {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, got {value!r}.") from None
    if not math.isfinite(number) or not minimum <= number <= maximum:
        bounds = f"between {minimum:g} and {maximum:g}"
        if maximum == math.inf:
            bounds = f"at least {minimum:g}"
        raise ConfigError(f"{key} must be {bounds}, got {value!r}.")
    return number


def parse_int(key: str, value: Any, *, minimum: int, maximum: int) -> int:
    """Read a whole number within ``[minimum, maximum]``."""
    wanted = f"{key} must be a whole number from {minimum:,} to {maximum:,}"
    try:
        number = parse_number(key, value, minimum=minimum, maximum=maximum)
    except ConfigError:
        raise ConfigError(f"{wanted}, got {value!r}.") from None
    if number != int(number):
        raise ConfigError(f"{wanted}, got {value!r}.")
    return int(number)


def parse_per_kind(
    key: str,
    value: Any,
    defaults: dict[str, float],
    *,
    minimum: float,
    maximum: float = math.inf,
) -> dict[str, float]:
    """Read a number for every kind, or a JSON object of numbers by kind."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{key} is not valid JSON ({exc.msg}); give a number or an "
                f'object such as {{"db": 0.1}}, got {value!r}.'
            ) from None
    if isinstance(value, dict):
        result = dict(defaults)
        for kind, item in value.items():
            if kind not in KINDS:
                raise ConfigError(
                    f"{key} names unknown kind {kind!r}; kinds are {', '.join(KINDS)}."
                )
            result[kind] = parse_number(
                f"{key}[{kind}]", item, minimum=minimum, maximum=maximum
            )
        return result
    number = parse_number(key, value, minimum=minimum, maximum=maximum)
    return {kind: number for kind in KINDS}


def parse_metrics_settings(config: dict[str, Any]) -> MetricsSettings:
    """Validate the ``METRICS_*`` keys of ``config``; raise ConfigError naming one."""

    def get(key: str) -> Any:
        return config.get(key, METRICS_DEFAULTS[key])

    rate_defaults = {kind: 1.0 for kind in KINDS}
    slow_defaults = {kind: math.inf for kind in KINDS}
    slow_defaults.update(METRICS_DEFAULTS["METRICS_SLOW_MS"])
    db_path = get("METRICS_DB")
    settings = MetricsSettings(
        enabled=parse_bool("METRICS_ENABLED", get("METRICS_ENABLED")),
        db_path=str(db_path) if db_path else None,
        flush_seconds=parse_number(
            "METRICS_FLUSH_SECONDS",
            get("METRICS_FLUSH_SECONDS"),
            minimum=0.05,
            maximum=3600,
        ),
        sample_rate=parse_per_kind(
            "METRICS_SAMPLE_RATE",
            get("METRICS_SAMPLE_RATE"),
            rate_defaults,
            minimum=0.0001,
            maximum=1.0,
        ),
        slow_ms=parse_per_kind(
            "METRICS_SLOW_MS", get("METRICS_SLOW_MS"), slow_defaults, minimum=0.0
        ),
        process_seconds=parse_number(
            "METRICS_PROCESS_SECONDS",
            get("METRICS_PROCESS_SECONDS"),
            minimum=0.05,
            maximum=3600,
        ),
        retain_minute_days=parse_number(
            "METRICS_RETAIN_MINUTE_DAYS",
            get("METRICS_RETAIN_MINUTE_DAYS"),
            minimum=0.01,
            maximum=MAX_RETAIN_DAYS,
        ),
        retain_hour_days=parse_number(
            "METRICS_RETAIN_HOUR_DAYS",
            get("METRICS_RETAIN_HOUR_DAYS"),
            minimum=0.01,
            maximum=MAX_RETAIN_DAYS,
        ),
        retain_events_days=parse_number(
            "METRICS_RETAIN_EVENTS_DAYS",
            get("METRICS_RETAIN_EVENTS_DAYS"),
            minimum=0.01,
            maximum=MAX_RETAIN_DAYS,
        ),
        buffer_max=parse_int(
            "METRICS_BUFFER_MAX",
            get("METRICS_BUFFER_MAX"),
            minimum=100,
            maximum=10_000_000,
        ),
        max_series=parse_int(
            "METRICS_MAX_SERIES",
            get("METRICS_MAX_SERIES"),
            minimum=10,
            maximum=1_000_000,
        ),
        scheduler=parse_bool("METRICS_SCHEDULER", get("METRICS_SCHEDULER")),
    )
    if settings.retain_hour_days < settings.retain_minute_days:
        raise ConfigError(
            "METRICS_RETAIN_HOUR_DAYS must be at least METRICS_RETAIN_MINUTE_DAYS "
            f"(hours are rolled up from minutes), got "
            f"{settings.retain_hour_days:g} < {settings.retain_minute_days:g}."
        )
    return settings
