"""Monitoring under real gunicorn workers: exact counts across processes."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.gunicorn_harness import Server, wait_for
from tests.monitoring_helpers import (
    count_or_zero,
    endpoint_totals,
    query,
    series_totals,
)

APP = "tests.apps.monitored_app:create_app()"
FLUSH = 0.5

pytestmark = pytest.mark.slow


@pytest.fixture
def app_dir(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "blob.bin").write_bytes(os.urandom(300_000))
    (static / "style.css").write_text("body { color: #222; }\n" * 200)
    return tmp_path


def server(app_dir, workers=3, extra=(), **env):
    base = {"APP_DATA": str(app_dir), "METRICS_FLUSH_SECONDS": str(FLUSH)}
    base.update({k: str(v) for k, v in env.items()})
    return Server(
        APP, base, workers=workers, extra_args=list(extra), log_path=app_dir / "g.log"
    )


def send(srv, plan: dict[str, int], threads: int = 6) -> dict[str, int]:
    """Send every request of ``plan`` concurrently; return statuses seen."""
    paths = [path for path, n in plan.items() for _ in range(n)]
    with ThreadPoolExecutor(threads) as pool:
        statuses = list(pool.map(lambda p: srv.get(p)[0], paths))
    return {status: statuses.count(status) for status in set(statuses)}


PLAN = {
    "/": 30,
    "/query": 20,
    "/stream": 8,
    "/file": 8,
    "/static/style.css": 12,
    "/no/such/page": 15,
    "/boom": 4,
}
EXPECTED = {
    "index": 30,
    "query": 20,
    "stream": 8,
    "file": 8,
    "static": 12,
    "<unmatched>": 15,
    "boom": 4,
    "ping": 1,
}


@pytest.mark.parametrize("preload", [False, True], ids=["fork-app", "preload"])
def test_counts_are_exact_across_workers_and_restarts(app_dir, preload):
    db = app_dir / "metrics.db"
    extra = ["--preload"] if preload else []
    with server(app_dir, extra=extra) as srv:
        statuses = send(srv, PLAN)
        assert statuses == {200: 78, 404: 15, 500: 4}
        # After two flush intervals every worker has written what it served.
        assert wait_for(lambda: endpoint_totals(db) == EXPECTED, 10 * FLUSH + 5), (
            endpoint_totals(db)
        )
    assert endpoint_totals(db) == EXPECTED

    with server(app_dir, extra=extra):
        pass
    after_restart = endpoint_totals(db)
    assert after_restart == {**EXPECTED, "ping": 2}
    labels = {key[2] for key in series_totals(db, "http")}
    assert "method=GET;status=5xx" in labels and "method=GET;status=4xx" in labels
    errors = query(db, "SELECT count(*) FROM events WHERE kind='http' AND error=1")
    assert errors == [(4,)]


def test_sigterm_right_after_a_burst_loses_nothing(app_dir):
    db = app_dir / "metrics.db"
    srv = server(app_dir, workers=3, METRICS_FLUSH_SECONDS=30).start()
    try:
        send(srv, {"/": 120, "/query": 60}, threads=8)
    finally:
        assert srv.stop(signal.SIGTERM) == 0
    assert endpoint_totals(db) == {"index": 120, "query": 60, "ping": 1}


def test_worker_recycling_loses_nothing(app_dir):
    db = app_dir / "metrics.db"
    extra = ["--max-requests", "20", "--max-requests-jitter", "0"]
    srv = server(app_dir, workers=3, extra=extra, METRICS_FLUSH_SECONDS=30).start()
    try:
        first = set(srv.worker_pids())
        send(srv, {"/": 150, "/query": 50}, threads=4)
        assert wait_for(lambda: not first & set(srv.worker_pids()), 15)
    finally:
        srv.stop()
    assert endpoint_totals(db) == {"index": 150, "query": 50, "ping": 1}
    pids = query(db, "SELECT count(DISTINCT pid) FROM processes")[0][0]
    assert pids >= 6  # the recycled workers reported in too


def test_recycled_workers_reuse_process_series(app_dir):
    db = app_dir / "metrics.db"
    extra = ["--max-requests", "15", "--max-requests-jitter", "0"]
    srv = server(app_dir, workers=2, extra=extra, METRICS_PROCESS_SECONDS=0.1).start()
    try:
        for _ in range(4):
            before = set(srv.worker_pids())
            send(srv, {"/": 30}, threads=2)
            assert wait_for(lambda old=before: not old & set(srv.worker_pids()), 15)
            # Let every new worker sample itself before the next round.
            assert wait_for(
                lambda: (
                    count_or_zero(
                        db,
                        "SELECT count(*) FROM processes WHERE exited IS NULL "
                        "AND slot IS NOT NULL",
                    )
                    >= 2
                ),
                10,
            )
        live = set(srv.worker_pids())
    finally:
        srv.stop()
    pids = query(db, "SELECT count(DISTINCT pid) FROM processes")[0][0]
    assert pids >= 8
    labels = {key[2] for key in series_totals(db, "process")}
    # Eight or more worker lifetimes, yet only slot-labelled series: at most
    # one slot per worker plus one for a worker still finishing its exit.
    assert labels and labels <= {"worker=1", "worker=2", "worker=3"}
    exited = query(db, "SELECT pid FROM processes WHERE exited IS NOT NULL")
    assert live <= {pid for (pid,) in exited}  # the last ones left cleanly too


def test_streams_and_files_are_byte_identical_and_timed(app_dir):
    from tests.apps.monitored_app import STREAM_CHUNKS

    db = app_dir / "metrics.db"
    with server(app_dir, workers=2) as srv:
        status, body = srv.get("/stream")
        assert status == 200 and body == b"".join(STREAM_CHUNKS)
        status, body = srv.get("/file")
        assert status == 200 and body == (app_dir / "static/blob.bin").read_bytes()
        status, body = srv.get("/static/style.css")
        assert body == (app_dir / "static/style.css").read_bytes()
    sums = dict(
        (
            (name, (count, total))
            for name, count, total in query(
                db,
                "SELECT s.name, sum(r.count), sum(r.sum) FROM rollup_minute r "
                "JOIN series s ON s.id = r.series_id WHERE s.kind = 'http' GROUP BY 1",
            )
        )
    )
    for name in ("stream", "file", "static"):
        count, total = sums[name]
        assert count == 1 and total > 0


def test_db_render_and_process_series_are_plausible(app_dir):
    db = app_dir / "metrics.db"
    with server(app_dir, workers=2, METRICS_PROCESS_SECONDS=0.2) as srv:
        send(srv, {"/": 20})
        assert wait_for(
            lambda: (
                count_or_zero(db, "SELECT count(*) FROM processes WHERE rss_bytes > 0")
                >= 2
            ),
            10,
        )
    totals = series_totals(db)
    db_series = {k: v for k, v in totals.items() if k[0] == "db"}
    assert db_series[("db", "SELECT count(*) FROM hits WHERE n > ?", "op=SELECT")] == 20
    assert totals[("render", "<string>", "")] == 20
    rss = query(
        db,
        "SELECT min(r.min), max(r.max) FROM rollup_minute r JOIN series s "
        "ON s.id = r.series_id WHERE s.kind = 'process' AND s.name = 'rss_bytes'",
    )[0]
    assert 10e6 < rss[0] <= rss[1] < 2e9
    units = dict(query(db, "SELECT name, unit FROM series WHERE kind = 'process'"))
    assert units["rss_bytes"] == "bytes"


def test_sampling_estimates_db_counts_and_keeps_every_slow_query(app_dir):
    db = app_dir / "metrics.db"
    with server(
        app_dir,
        workers=2,
        METRICS_SAMPLE_RATE='{"db": 0.1}',
        METRICS_SLOW_MS='{"db": 20}',
        APP_QUERIES=400,
        APP_SLOW_QUERIES=2,
    ) as srv:
        send(srv, {"/query": 100, "/slowquery": 10}, threads=4)
    totals = series_totals(db, "db")
    estimated = totals[("db", "SELECT ? + ?", "op=SELECT")]
    assert abs(estimated - 40_000) / 40_000 < 0.06
    assert totals[("db", "SELECT pause(?)", "op=SELECT")] == 20
    slow = query(
        db, "SELECT count(*) FROM events WHERE kind = 'db' AND name = 'SELECT pause(?)'"
    )
    assert slow == [(20,)]
    http = series_totals(db, "http")
    assert http[("http", "query", "method=GET;status=2xx")] == 100
