"""Flask-facing performance monitoring: sensors, scheduler and dashboard."""

from __future__ import annotations

import sqlite3
from typing import Any

from starpunk.monitoring.settings import METRICS_DEFAULTS, parse_metrics_settings

__all__ = ["METRICS_DEFAULTS", "Monitoring", "connect", "parse_metrics_settings"]


class Monitoring:
    """Instruments a Flask app from its ``METRICS_*`` configuration."""

    def __init__(self, app: Any = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> None:
        """Attach monitoring to ``app``."""
        app.extensions["starpunk.monitoring"] = self


def connect(path: str, **kwargs: Any) -> sqlite3.Connection:
    """Open an SQLite connection whose statements are measured."""
    return sqlite3.connect(path, **kwargs)
