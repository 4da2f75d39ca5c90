"""Sensors through Flask's test client: what each kind records, and when not."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from flask import (
    Flask,
    Response,
    redirect,
    render_template_string,
    request,
    stream_template_string,
)

from starpunk.db import BUSY_TIMEOUT_MS, open_connection
from starpunk.errors import ConfigError
from starpunk.monitoring import Monitoring, connect, normalize_sql
from starpunk.monitoring.http_timing import RequestTimer, status_labels
from starpunk.monitoring.sql_timing import InstrumentedConnection


def make_app(tmp_path, **config) -> Flask:
    app = Flask(__name__)
    app.config.update(
        METRICS_DB=str(tmp_path / "metrics.db"), METRICS_SCHEDULER="0", **config
    )
    monitoring = Monitoring(app)
    database = str(tmp_path / "app.db")

    @app.route("/page/<int:number>")
    def page(number):
        conn = connect(database)
        conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER, secret TEXT)")
        conn.execute("SELECT * FROM t WHERE n = ?", (number,)).fetchall()
        conn.close()
        return render_template_string("page {{ n }}", n=number)

    @app.route("/fail")
    def fail():
        raise RuntimeError("nope")

    @app.route("/bad-sql")
    def bad_sql():
        conn = connect(database)
        try:
            conn.execute("SELECT * FROM missing WHERE secret = ?", ("hunter2",))
        finally:
            conn.close()

    @app.route("/stream")
    def stream():
        def generate():
            yield b"a" * 10
            yield b"b" * 10

        return Response(generate())

    app.monitoring = monitoring
    return app


# The test client closes a response (which is when the request is recorded,
# as a WSGI server does after the last byte) only when it buffers the body.


def samples(app) -> list[tuple]:
    return list(app.monitoring.buffer._samples)


@pytest.mark.parametrize(
    ("sql", "statement", "op"),
    [
        (
            "SELECT * FROM notes WHERE slug = 'a''b'",
            "SELECT * FROM notes WHERE slug = ?",
            "SELECT",
        ),
        (
            "select  x\n from t where id in (1, 2,3)",
            "select x from t where id in (?)",
            "SELECT",
        ),
        (
            "INSERT INTO t (a, b) VALUES (?, ?)",
            "INSERT INTO t (a, b) VALUES (?, ?)",
            "INSERT",
        ),
        (
            "UPDATE t SET a = 1.5e3 WHERE b = :name",
            "UPDATE t SET a = ? WHERE b = ?",
            "UPDATE",
        ),
        ("DELETE FROM t2 WHERE c = -4", "DELETE FROM t2 WHERE c = ?", "DELETE"),
        ('SELECT "col 1" FROM t3', 'SELECT "col 1" FROM t3', "SELECT"),
        ("PRAGMA journal_mode = WAL", "PRAGMA journal_mode = WAL", "OTHER"),
        ("-- note\nBEGIN", "BEGIN", "OTHER"),
    ],
)
def test_normalize_sql_replaces_literals_and_names_the_operation(sql, statement, op):
    assert normalize_sql(sql) == (statement, op)


def test_normalized_statements_are_capped_at_200_chars():
    statement, _ = normalize_sql("SELECT " + ", ".join(f"c{i}" for i in range(200)))
    assert len(statement) == 200


def test_requests_queries_and_renders_are_recorded(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    assert client.get("/page/3", buffered=True).status_code == 200
    assert client.get("/nowhere", buffered=True).status_code == 404
    recorded = samples(app)
    kinds = {(s[1], s[2], s[3]) for s in recorded}
    assert ("http", "page", "method=GET;status=2xx") in kinds
    assert ("http", "<unmatched>", "method=GET;status=4xx") in kinds
    assert ("db", "SELECT * FROM t WHERE n = ?", "op=SELECT") in kinds
    assert ("render", "<string>", "") in kinds
    assert all(s[4] >= 0 and s[5] is False for s in recorded)


def test_request_answered_by_a_before_request_hook_keeps_its_endpoint(tmp_path):
    app = make_app(tmp_path)

    @app.before_request
    def login_first():
        return redirect("/login") if request.path == "/page/5" else None

    client = app.test_client()
    assert client.get("/page/5", buffered=True).status_code == 302
    http = [(s[2], s[3]) for s in samples(app) if s[1] == "http"]
    assert http == [("page", "method=GET;status=3xx")]


@pytest.mark.parametrize(
    ("method", "status", "labels"),
    [
        ("GET", "200 OK", "method=GET;status=2xx"),
        ("DELETE", "404 NOT FOUND", "method=DELETE;status=4xx"),
        ("BREW", "418 I'M A TEAPOT", "method=OTHER;status=4xx"),
        ("GET", "999 ODD", "method=GET;status=5xx"),
        ("POST", "", "method=POST;status=5xx"),
    ],
)
def test_status_labels_bound_methods_and_classes(method, status, labels):
    assert status_labels(method, status) == labels


def test_streamed_templates_are_timed_once_they_are_consumed(tmp_path):
    app = make_app(tmp_path)

    @app.route("/streamed")
    def streamed():
        return stream_template_string("{% for i in range(3) %}{{ i }}{% endfor %}")

    response = app.test_client().get("/streamed", buffered=True)
    assert response.data == b"012"
    renders = [s for s in samples(app) if s[1] == "render"]
    assert [(s[2], s[3]) for s in renders] == [("<string>", "")]


def test_opening_an_app_connection_records_no_set_up_statements(tmp_path):
    app = make_app(tmp_path)

    connection = open_connection(tmp_path / "site.db")
    try:
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == (
            BUSY_TIMEOUT_MS
        )
        assert connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        connection.close()
    statements = [s[2] for s in samples(app) if s[1] == "db"]
    assert statements == ["PRAGMA busy_timeout", "PRAGMA foreign_keys"]


def test_server_errors_and_failed_statements_are_events_without_values(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    assert client.get("/fail", buffered=True).status_code == 500
    assert client.get("/bad-sql", buffered=True).status_code == 500
    events = [s for s in samples(app) if s[5]]
    names = {(s[1], s[2]) for s in events}
    assert ("http", "fail") in names
    assert ("db", "SELECT * FROM missing WHERE secret = ?") in names
    assert all("hunter2" not in (s[6] or "") for s in samples(app))
    db_event = next(s for s in events if s[1] == "db")
    assert "no such table" in db_event[6]


def test_streamed_body_is_passed_through_and_timed_at_close(tmp_path):
    app = make_app(tmp_path)
    with app.test_client() as client:
        response = client.get("/stream", buffered=True)
        assert response.data == b"a" * 10 + b"b" * 10
    assert [s[2] for s in samples(app) if s[1] == "http"] == ["stream"]


def test_flush_writes_to_the_metrics_db_which_measures_nothing_itself(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    for n in range(5):
        client.get(f"/page/{n}", buffered=True)
    assert app.monitoring.flush()
    conn = sqlite3.connect(tmp_path / "metrics.db")
    names = [row[0] for row in conn.execute("SELECT name FROM series WHERE kind='db'")]
    conn.close()
    assert names and not any("rollup" in n or "series" in n for n in names)
    assert len(app.monitoring.buffer) == 0
    health = app.monitoring.health()
    assert health["last_flush"].endswith("Z") and health["flush_failures"] == 0


def test_disabled_monitoring_adds_no_hooks_threads_or_wrappers(tmp_path):
    threads_before = threading.active_count()
    app = make_app(tmp_path, METRICS_ENABLED="0")
    assert not isinstance(app.wsgi_app, RequestTimer)
    assert app.before_request_funcs.get(None, []) == []
    assert app.test_client().get("/page/1").status_code == 200
    conn = connect(str(tmp_path / "x.db"))
    assert type(conn) is sqlite3.Connection
    conn.close()
    assert threading.active_count() == threads_before
    assert app.monitoring.health() == {
        "enabled": False,
        "database": str(tmp_path / "metrics.db"),
        "db_size_bytes": 0,
    }


def test_enabled_connect_returns_an_instrumented_connection(tmp_path):
    make_app(tmp_path)
    conn = connect(str(tmp_path / "x.db"))
    assert isinstance(conn, InstrumentedConnection)
    conn.close()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("METRICS_FLUSH_SECONDS", "soon"),
        ("METRICS_FLUSH_SECONDS", "-1"),
        ("METRICS_SAMPLE_RATE", "1.5"),
        ("METRICS_SAMPLE_RATE", '{"dbx": 0.1}'),
        ("METRICS_SAMPLE_RATE", '{"db": '),
        ("METRICS_SLOW_MS", "nan"),
        ("METRICS_ENABLED", "maybe"),
        ("METRICS_BUFFER_MAX", "12.5"),
        ("METRICS_MAX_SERIES", "0"),
        ("METRICS_RETAIN_HOUR_DAYS", "forever"),
        ("METRICS_SAMPLE_RATE", '{"db": true}'),
        ("METRICS_SLOW_MS", '{"http": false}'),
        ("METRICS_BUFFER_MAX", "1.5"),
        ("METRICS_BUFFER_MAX", "1e12"),
        ("METRICS_RETAIN_EVENTS_DAYS", "1e9"),
        ("METRICS_RETAIN_HOUR_DAYS", "3"),
    ],
)
def test_bad_settings_name_the_key(tmp_path, key, value):
    with pytest.raises(ConfigError, match=key):
        make_app(tmp_path, **{key: value})


@pytest.mark.parametrize("value", ["1.5", "12", "1e12"])
def test_whole_number_settings_state_the_accepted_range(tmp_path, value):
    with pytest.raises(ConfigError) as error:
        make_app(tmp_path, METRICS_BUFFER_MAX=value)
    assert "whole number from 100 to 10,000,000" in str(error.value)


def test_hour_retention_shorter_than_minute_retention_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="at least METRICS_RETAIN_MINUTE_DAYS"):
        make_app(
            tmp_path, METRICS_RETAIN_MINUTE_DAYS="10", METRICS_RETAIN_HOUR_DAYS="9"
        )


def test_per_kind_settings_accept_json(tmp_path):
    app = make_app(tmp_path, METRICS_SAMPLE_RATE='{"db": 0.25}', METRICS_SLOW_MS="50")
    settings = app.monitoring.settings
    assert settings.sample_rate == {
        "http": 1.0,
        "db": 0.25,
        "render": 1.0,
        "process": 1.0,
    }
    assert settings.slow_ms["render"] == 50.0
