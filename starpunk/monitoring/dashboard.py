"""The admin metrics dashboard: HTML page, JSON API and streaming CSV export.

The site registers it with its own guards::

    register_dashboard(app, admin_required, admin_api_required)

``admin_required`` protects the HTML page (redirecting anonymous visitors to
the login), ``admin_api_required`` the JSON and CSV (answering 401).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)

from metrics_store.activity import Worker, live_window, live_workers
from metrics_store.csv_writer import export_filename, iter_csv
from metrics_store.errors import QueryError
from metrics_store.queries import (
    clean_number,
    count_points,
    iter_points,
    open_reader,
    query_series,
)
from metrics_store.ranges import PARAMETERS, PRESETS, MetricsQuery, parse_query
from metrics_store.store import MetricsStore
from metrics_store.timebuckets import iso_utc
from starpunk.monitoring import formatting
from starpunk.monitoring.panels import build_detail, build_overview, chart_step

logger = logging.getLogger(__name__)

BLUEPRINT = "metrics_dashboard"
EXTENSION = "starpunk.monitoring"
TEMPLATE = "admin/metrics_dashboard.html"
# Larger answers belong in the streaming CSV export.
MAX_JSON_POINTS = 250_000
REFRESH_SECONDS = 30


def register_dashboard(
    app: Flask, admin_required: Callable, admin_api_required: Callable
) -> Blueprint:
    """Register the dashboard routes on ``app`` behind the site's auth guards."""
    blueprint = Blueprint(
        BLUEPRINT,
        __name__,
        template_folder=str(_templates_dir()),
        static_folder=str(Path(__file__).resolve().parent.parent / "static"),
        static_url_path="/admin/metrics/static",
    )
    blueprint.add_url_rule(
        "/admin/metrics-dashboard", "page", admin_required(dashboard_page)
    )
    blueprint.add_url_rule("/admin/metrics", "data", admin_api_required(metrics_json))
    blueprint.add_url_rule(
        "/admin/metrics/export.csv", "export_csv", admin_api_required(export_csv)
    )
    blueprint.register_error_handler(QueryError, invalid_parameter)
    blueprint.register_error_handler(sqlite3.Error, metrics_unavailable)
    blueprint.register_error_handler(OSError, metrics_unavailable)
    app.register_blueprint(blueprint)
    return blueprint


def dashboard_page() -> Any:
    """The HTML dashboard: overview, or one name's detail with ``name=``."""
    now = time.time()
    query = _parse(now)
    if query.name is not None and query.kind is None:
        query = MetricsQuery(query.time_range, "http", query.name)
    with _reader() as conn:
        if query.name is not None:
            view = build_detail(conn, query, now)
        else:
            view = build_overview(conn, query, now)
        view.workers = live_workers(conn, now, _live_window())
    view.status = monitoring_status(now)
    return render_template(TEMPLATE, **_page_context(view=view, now=now))


def metrics_json() -> Any:
    """Series points for the range, plus live workers and monitoring status."""
    now = time.time()
    query = _parse(now)
    with _reader() as conn:
        points = count_points(conn, query)
        if points > MAX_JSON_POINTS:
            raise QueryError(
                f"this query would return {points:,} points, more than the "
                f"{MAX_JSON_POINTS:,} a JSON answer holds; narrow the range, "
                "pick a kind or name, use resolution=hour, or use the CSV export."
            )
        series = query_series(conn, query)
        workers = live_workers(conn, now, _live_window())
    time_range = query.time_range
    return jsonify(
        {
            "from": time_range.start_iso,
            "to": time_range.end_iso,
            "resolution": time_range.resolution,
            "range": time_range.preset,
            "kind": query.kind,
            "name": query.name,
            "series": [s.as_dict() for s in series],
            "processes": [worker_json(w) for w in workers],
            "status": monitoring_status(now),
        }
    )


def export_csv() -> Response:
    """Stream the range as CSV; the file is named after the range."""
    query = _parse(time.time())
    # Open before answering, so an unreadable database is a 503, not a cut-off
    # download.
    conn = open_reader(_ready_store().path)
    try:
        conn.execute("SELECT count(*) FROM series").fetchone()
    except sqlite3.Error:
        conn.close()
        raise
    time_range = query.time_range
    filename = export_filename(time_range.start, time_range.end)
    return Response(
        _stream_csv(conn, query),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _stream_csv(conn: sqlite3.Connection, query: MetricsQuery) -> Iterator[bytes]:
    with contextlib.closing(conn):
        for chunk in iter_csv(iter_points(conn, query), query.time_range.resolution):
            yield chunk.encode("utf-8")


def invalid_parameter(error: QueryError) -> Any:
    """Answer a bad range or filter with 400: JSON for the API, a page otherwise."""
    message = str(error)
    if request.endpoint == f"{BLUEPRINT}.page":
        context = _page_context(view=None, now=time.time(), error=message)
        return render_template(TEMPLATE, **context), 400
    return jsonify(error="invalid_parameter", message=message), 400


def metrics_unavailable(error: Exception) -> Any:
    """Answer 503 when the metrics database cannot be opened or read.

    The site keeps serving; the operator sees what SQLite or the file system
    reported instead of a bare server error.
    """
    logger.error("metrics database unavailable: %s", error)
    path = current_app.extensions[EXTENSION].store.path
    message = (
        f"The metrics database {str(path)!r} cannot be read: {error}. "
        "The site itself keeps working; check the file, its folder's "
        "permissions and free disk space."
    )
    if request.endpoint == f"{BLUEPRINT}.page":
        context = _page_context(view=None, now=time.time(), error=message)
        return render_template(TEMPLATE, **context), 503
    return jsonify(error="metrics_unavailable", message=message), 503


def monitoring_status(now: float) -> dict[str, Any]:
    """The monitoring's own health: buffer, drops, last flush and database size."""
    monitoring = current_app.extensions[EXTENSION]
    health: dict[str, Any] = {}
    try:
        health = dict(monitoring.health())
    except Exception:
        # The dashboard must still render when the monitoring is unwell.
        logger.exception("monitoring health check failed")
    store = monitoring.store
    status = {
        "buffered": health.get("buffered"),
        "dropped": health.get("dropped"),
        "flush_failures": health.get("flush_failures"),
        "flush_ms": clean_number(health.get("flush_ms")),
        "last_flush": _iso_or_none(health.get("last_flush")),
        "db_size_bytes": health.get("db_size_bytes", store.size_bytes()),
        "overflow_samples": clean_number(store.counter("overflow_samples")),
        "events_dropped": clean_number(store.counter("events_dropped")),
    }
    extra = {k: v for k, v in health.items() if k not in status and _is_plain(v)}
    return {**status, **extra}


def worker_json(worker: Worker) -> dict[str, Any]:
    """A live worker with times in ISO 8601 UTC."""
    data = asdict(worker)
    for key in ("started", "last_seen", "last_flush"):
        data[key] = _iso_or_none(data[key])
    return data


def _page_context(view, now: float, error: str | None = None) -> dict[str, Any]:
    args = request.args
    return {
        "view": view,
        "error": error,
        "now": now,
        "presets": list(PRESETS),
        "args": args,
        "fmt": formatting,
        "refresh_seconds": REFRESH_SECONDS,
        "blueprint": BLUEPRINT,
        "link": page_link,
        "chart_step": chart_step,
    }


def page_link(endpoint: str = "page", **changes: str | None) -> str:
    """URL of a dashboard route keeping the current range and filter.

    A change to None drops that parameter; choosing a preset ``range``
    drops ``from`` and ``to``.
    """
    params = {
        key: value
        for key, value in request.args.items()
        if key in PARAMETERS and value.strip()
    }
    if changes.get("range"):
        params.pop("from", None)
        params.pop("to", None)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return url_for(f"{BLUEPRINT}.{endpoint}", **params)


def _parse(now: float) -> MetricsQuery:
    """The request's range and filter, checked against the minute retention."""
    settings = getattr(current_app.extensions[EXTENSION], "settings", None)
    minute_days = getattr(settings, "retain_minute_days", None)
    return parse_query(request.args, now, minute_days=minute_days)


def _ready_store() -> MetricsStore:
    store = current_app.extensions[EXTENSION].store
    with store.reading():
        # Opening the shared connection creates and migrates a missing file,
        # so a read-only connection opened next always finds the schema.
        pass
    return store


@contextlib.contextmanager
def _reader() -> Iterator[sqlite3.Connection]:
    """A private read-only connection for one request.

    Dashboard queries can take a while over long ranges; on their own
    connection they neither hold the store's lock (which this worker's
    flush needs) nor queue behind each other.
    """
    with contextlib.closing(open_reader(_ready_store().path)) as conn:
        yield conn


def _live_window() -> float:
    flush = current_app.config.get("METRICS_FLUSH_SECONDS", 10)
    try:
        return live_window(float(flush))
    except (TypeError, ValueError):
        return live_window(10.0)


def _iso_or_none(ts: Any) -> str | None:
    if ts is None:
        return None
    if isinstance(ts, str):
        return ts
    return iso_utc(ts)


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _templates_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    for candidate in (
        package.parent / "templates",
        package / "_resources" / "templates",
    ):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("templates folder not found next to the package")
