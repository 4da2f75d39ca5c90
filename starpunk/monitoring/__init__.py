"""Flask-facing performance monitoring: sensors, scheduler and dashboard.

``Monitoring(app)`` instruments any Flask app from its ``METRICS_*`` config:
requests at the WSGI level, SQL statements through :func:`connect`, template
renders through Flask's signals, and the worker process through psutil.
Samples are flushed by a background scheduler started in each worker after
the fork, into a metrics database shared by every worker.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from pathlib import Path
from typing import Any

from flask import Flask

from metrics_store.activity import live_window
from metrics_store.buffer import SampleBuffer
from metrics_store.flusher import RECOVERABLE, Flusher
from metrics_store.recorder import Recorder
from metrics_store.retention import RetentionPolicy
from metrics_store.store import MetricsStore
from metrics_store.timebuckets import iso_utc
from starpunk.monitoring.http_timing import RequestTimer
from starpunk.monitoring.render_timing import RenderTimer
from starpunk.monitoring.settings import (
    METRICS_DEFAULTS,
    MetricsSettings,
    parse_metrics_settings,
)
from starpunk.monitoring.sql_timing import connect, normalize_sql, set_recorder

__all__ = [
    "METRICS_DEFAULTS",
    "Monitoring",
    "connect",
    "init_metrics_db",
    "normalize_sql",
    "on_worker_exit",
    "on_worker_start",
    "parse_metrics_settings",
]

logger = logging.getLogger(__name__)
EXTENSION_KEY = "starpunk.monitoring"
FLUSH_BUSY_TIMEOUT = 10.0

_instances: weakref.WeakSet[Monitoring] = weakref.WeakSet()


class Monitoring:
    """Instruments a Flask app from its ``METRICS_*`` configuration."""

    def __init__(self, app: Flask | None = None) -> None:
        self.settings: MetricsSettings | None = None
        self.store: MetricsStore | None = None
        self.buffer: SampleBuffer | None = None
        self.recorder: Recorder | None = None
        self.flusher: Flusher | None = None
        self.scheduler = None
        self._timer: RequestTimer | None = None
        self._start_lock = threading.Lock()
        self._started = False
        if app is not None:
            self.init_app(app)

    @property
    def enabled(self) -> bool:
        """True when this app is instrumented."""
        return self.recorder is not None

    def init_app(self, app: Flask) -> None:
        """Read ``app``'s config and attach the sensors (none when disabled).

        Raises ConfigError naming the ``METRICS_*`` key when a value is bad.
        """
        settings = parse_metrics_settings(app.config)
        self.settings = settings
        app.extensions[EXTENSION_KEY] = self
        self.store = MetricsStore(
            metrics_db_path(app, settings),
            max_series=settings.max_series,
            busy_timeout=FLUSH_BUSY_TIMEOUT,
        )
        if not settings.enabled:
            set_recorder(None)
            return
        self.buffer = SampleBuffer(settings.buffer_max)
        self.recorder = Recorder(self.buffer, settings.sample_rate, settings.slow_ms)
        self.flusher = Flusher(
            self.buffer,
            self.store,
            sample_rate=settings.sample_rate,
            slow_ms=settings.slow_ms,
            wall_offset=self.recorder.wall_offset,
            max_pending=max(1000, settings.buffer_max // 10),
            live_seconds=live_window(settings.flush_seconds),
        )
        set_recorder(self.recorder)
        self._timer = RequestTimer(app.wsgi_app, self.recorder, self.start)
        app.wsgi_app = self._timer
        RenderTimer(app, self.recorder)
        _instances.add(self)

    def start(self) -> None:
        """Start this worker's scheduler; called on its first request or by gunicorn."""
        if self._started or self.flusher is None:
            return
        with self._start_lock:
            if self._started:
                return
            self._started = True
            if self._timer is not None:
                self._timer.on_first_request = None
            if not self.settings.scheduler:
                return
            from starpunk.monitoring.process_sampler import ProcessSampler
            from starpunk.monitoring.scheduler import SiteJobs, build_scheduler

            policy = RetentionPolicy(
                self.settings.retain_minute_days,
                self.settings.retain_hour_days,
                self.settings.retain_events_days,
            )
            sampler = ProcessSampler(self.recorder, self.flusher)
            jobs = SiteJobs(self.store, self.flusher, policy)
            self.scheduler = build_scheduler(self.settings, self.flusher, sampler, jobs)
            self.scheduler.start()
            atexit.register(self.shutdown)

    def flush(self) -> bool:
        """Write this process's buffered samples now; True when they reached disk."""
        if self.flusher is None:
            return False
        return self.flusher.flush()

    def shutdown(self) -> None:
        """Stop the scheduler and flush what is left (graceful worker exit)."""
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            try:
                scheduler.shutdown(wait=False)
            except Exception:  # noqa: BLE001 - already stopped is fine at exit
                logger.debug("scheduler already stopped", exc_info=True)
        if self._started and self.flusher is not None:
            self.flusher.flush(final=True)

    def _after_fork_in_child(self) -> None:
        # Threads do not survive fork: the child starts its own on first use.
        self.scheduler = None
        self._started = False
        self._start_lock = threading.Lock()
        if self._timer is not None:
            self._timer.on_first_request = self.start

    def health(self) -> dict[str, Any]:
        """The monitoring's own status for this worker."""
        status: dict[str, Any] = {"enabled": self.enabled}
        if self.flusher is not None:
            status.update(self.flusher.status())
            if status["last_flush"] is not None:
                status["last_flush"] = iso_utc(status["last_flush"])
        if self.store is not None:
            status["database"] = str(self.store.path)
            status["db_size_bytes"] = self.store.size_bytes()
        return status


def metrics_db_path(app: Flask, settings: MetricsSettings) -> Path:
    """Return the metrics database path from settings or the data folder."""
    if settings.db_path:
        return Path(settings.db_path)
    data = app.config.get("DATA_PATH") or app.instance_path
    return Path(data) / "metrics.db"


def init_metrics_db(app: Flask) -> bool:
    """Create and migrate the metrics database; log and return False on failure."""
    monitoring = app.extensions.get(EXTENSION_KEY)
    if monitoring is None or monitoring.store is None:
        return False
    try:
        monitoring.store.connection()
    except RECOVERABLE as exc:
        logger.error(
            "metrics database %s cannot be opened (%s); the site will run "
            "without stored metrics until this is fixed",
            monitoring.store.path,
            exc,
        )
        return False
    return True


def on_worker_start(worker: Any = None) -> None:
    """Gunicorn ``post_worker_init`` hook: start monitoring before any request."""
    for monitoring in list(_instances):
        monitoring.start()


def on_worker_exit(worker: Any = None) -> None:
    """Gunicorn ``worker_exit`` hook: flush what this worker still holds."""
    for monitoring in list(_instances):
        monitoring.shutdown()


def _reset_in_child() -> None:
    for monitoring in list(_instances):
        monitoring._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_in_child)
