"""Shared helpers for the metrics consumer tests: seeding and a stand-in app."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import freezegun
from flask import Flask, jsonify, redirect, request, session

from metrics_store.aggregate import PendingBatch
from metrics_store.store import MetricsStore, ProcessStatus

# 2023-11-14T22:13:20Z; tests freeze time here.
NOW = 1_700_000_000
AUTH_HEADER = "X-Test-Admin"


def sample(
    ts: float,
    kind: str,
    name: str,
    value: float,
    labels: str = "",
    *,
    event: int = 0,
    detail: str | None = None,
    weight: float = 1.0,
) -> tuple:
    """Build one raw sample tuple in ``metrics_store.buffer.Sample`` order."""
    return (ts, kind, name, labels, value, weight, detail, event)


def seed(store: MetricsStore, samples: Iterable[tuple], *, rollup: bool = True):
    """Write samples through the real flush path, then roll hours up."""
    batch = PendingBatch()
    batch.add_samples(samples)
    store.write_batch(batch)
    if rollup:
        store.rollup_hours()


def report_worker(
    store: MetricsStore, pid: int, seen: float, gauges: dict[str, float]
) -> None:
    """Record a worker's status row as its flush would."""
    status = ProcessStatus(
        pid=pid,
        started=seen - 3600,
        buffered=3,
        dropped=0,
        last_flush=seen,
        flush_ms=4.2,
        gauges=gauges,
    )
    with freezegun.freeze_time(datetime.fromtimestamp(seen, UTC)):
        store.write_batch(PendingBatch(), status)


def site_samples(now: float = NOW, minutes: int = 120) -> list[tuple]:
    """A small, varied site: endpoints, statuses, statements, templates, workers.

    Every minute has traffic except those where ``minute % 17 == 5``, which
    are gaps for every kind.
    """
    samples = []
    start = now - minutes * 60
    for minute in range(minutes):
        if minute % 17 == 5:
            continue
        ts = start + minute * 60 + 7
        for i in range(6):
            samples.append(
                sample(ts, "http", "public.index", 20 + i * 3 + minute % 5, GET_2XX)
            )
        samples.append(sample(ts, "http", "public.note", 35 + minute % 9, GET_2XX))
        samples.append(sample(ts, "http", "public.note", 8, GET_404))
        if minute % 4 == 0:
            samples.append(
                sample(ts, "http", "admin.index", 900, GET_5XX, event=2, detail="boom")
            )
        samples.append(sample(ts, "http", "static", 2.5, GET_2XX))
        for i in range(8):
            samples.append(sample(ts, "db", SELECT_NOTES, 0.4 + i * 0.1, "op=SELECT"))
        samples.append(sample(ts, "db", INSERT_NOTE, 3.0 + minute % 3, "op=INSERT"))
        if minute % 30 == 2:
            samples.append(
                sample(ts, "db", SLOW_QUERY, 240, "op=SELECT", event=1, detail="slow")
            )
        samples.append(sample(ts, "render", "index.html", 4 + minute % 4))
        samples.append(sample(ts, "render", "note.html", 2.5))
        for pid, rss in ((4101, 60e6), (4102, 75e6)):
            labels = f"worker={pid - 4100}"
            samples.append(
                sample(ts, "process", "rss_bytes", rss + minute * 1e4, labels)
            )
            samples.append(sample(ts, "process", "cpu_percent", 3 + pid % 3, labels))
    return samples


GET_2XX = "method=GET;status=2xx"
GET_404 = "method=GET;status=4xx"
GET_5XX = "method=GET;status=5xx"
SELECT_NOTES = "SELECT * FROM notes WHERE slug = ?"
INSERT_NOTE = "INSERT INTO notes (slug, body) VALUES (?, ?)"
SLOW_QUERY = "SELECT count(*) FROM notes n JOIN tags t ON t.note = n.id"


def seed_site(store: MetricsStore, now: float = NOW, minutes: int = 120) -> None:
    """Seed :func:`site_samples` and two live workers."""
    seed(store, site_samples(now, minutes))
    report_worker(store, 4101, now - 5, {"rss_bytes": 61e6, "cpu_percent": 3.0})
    report_worker(store, 4102, now - 8, {"rss_bytes": 76e6, "cpu_percent": 4.0})


def health_for(store: MetricsStore) -> Callable[[], dict]:
    """A stand-in for ``Monitoring.health()`` reporting fixed numbers."""

    def health() -> dict:
        return {
            "enabled": True,
            "buffered": 12,
            "dropped": 0,
            "last_flush": NOW - 4,
            "flush_ms": 3.1,
            "flush_failures": 0,
            "db_size_bytes": store.size_bytes(),
        }

    return health


def admin_required(view: Callable) -> Callable:
    """Stand-in for the site's HTML guard: redirect anonymous visitors."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if request.headers.get(AUTH_HEADER) == "yes" or session.get("admin"):
            return view(*args, **kwargs)
        return redirect("/admin/login?next=" + request.path)

    return wrapped


def admin_api_required(view: Callable) -> Callable:
    """Stand-in for the site's API guard: answer 401 JSON to anonymous callers."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if request.headers.get(AUTH_HEADER) == "yes" or session.get("admin"):
            return view(*args, **kwargs)
        return jsonify(error="unauthorized", message="log in first"), 401

    return wrapped


def make_app(store: MetricsStore, config: dict | None = None) -> Flask:
    """A minimal Flask app with the dashboard, the CLI and a test login."""
    from starpunk.monitoring.cli import metrics_cli
    from starpunk.monitoring.dashboard import register_dashboard

    app = Flask("starpunk_test", root_path=str(Path(__file__).parent))
    app.config.update(SECRET_KEY="test", TESTING=True, **(config or {}))
    app.extensions["starpunk.monitoring"] = types.SimpleNamespace(
        store=store, health=health_for(store)
    )
    register_dashboard(app, admin_required, admin_api_required)
    app.cli.add_command(metrics_cli)

    @app.route("/admin/login")
    def login():
        session["admin"] = True
        return redirect(request.args.get("next") or "/admin/metrics-dashboard")

    return app
