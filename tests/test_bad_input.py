"""Hostile and malformed input: always a clear 4xx, never a 500, nothing stored wrongly.

Dashboard parameters and Micropub bodies go through the Flask test client;
paths, uploads and floods of 404s go through real gunicorn on 127.0.0.1.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from metrics_store.csv_writer import neutralize
from starpunk.credentials import create_token
from starpunk.db import open_connection
from starpunk.monitoring import Monitoring, connect, normalize_sql
from tests.gunicorn_harness import wait_for
from tests.monitoring_helpers import query, series_totals
from tests.site_server import Site, raw_request, request, status_of

PAGE = "/admin/metrics-dashboard"
JSON_URL = "/admin/metrics"
CSV_URL = "/admin/metrics/export.csv"
SCRIPT = "<script>alert('x')</script>"
SQL = "' OR 1=1; DROP TABLE series; --"


def assert_clean_4xx(response, status: int = 400) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[:500]
    assert "Traceback" not in body and 'File "' not in body


# -- range parameters ----------------------------------------------------------

BAD_PARAMETERS = [
    ({"range": "2h"}, "unknown range"),
    ({"range": "-1h"}, "unknown range"),
    ({"range": "1y"}, "unknown range"),
    ({"range": SCRIPT}, "unknown range"),
    ({"range": SQL}, "unknown range"),
    ({"range": "1h", "from": "2024-05-01T00:00:00Z"}, "not both"),
    ({"from": "2024-05-02T00:00:00Z", "to": "2024-05-01T00:00:00Z"}, "before"),
    ({"from": "2024-05-01T00:00:00Z", "to": "2024-05-01T00:00:00Z"}, "before"),
    ({"from": "yesterday"}, "ISO 8601"),
    ({"from": "2024-13-45"}, "ISO 8601"),
    ({"from": "2024-05-01T25:00"}, "ISO 8601"),
    ({"from": "2024-05-01T00:00+99:00"}, "ISO 8601"),
    ({"from": "2024-05-01\x00"}, "ISO 8601"),
    ({"from": SQL}, "ISO 8601"),
    ({"from": SCRIPT}, "ISO 8601"),
    ({"to": "2024-05-01T00:00:00Z"}, "from is required"),
    ({"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}, "1970"),
    ({"from": "2000-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}, "days"),
    ({"from": "1970-01-01T00:00:00Z", "to": "2024-01-01T00:00:00Z"}, "days"),
    ({"from": "1960-01-01T00:00:00Z", "to": "1961-01-01T00:00:00Z"}, "1970"),
    ({"from": "-2024-01-01"}, "ISO 8601"),
    ({"from": "9" * 400}, "ISO 8601"),
    ({"range": "30d", "resolution": "minute"}, "minute resolution"),
    ({"resolution": "second"}, "resolution must be"),
    ({"resolution": SCRIPT}, "resolution must be"),
    ({"kind": "cpu"}, "kind must be"),
    ({"kind": "http' OR '1'='1"}, "kind must be"),
    ({"kind": SCRIPT}, "kind must be"),
    ({"name": "x" * 501}, "at most 500"),
]


@pytest.fixture
def admin(app: Flask, token: str):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.mark.parametrize("url", [JSON_URL, CSV_URL])
@pytest.mark.parametrize("params,message", BAD_PARAMETERS)
def test_bad_range_parameters_answer_400_json(admin, url, params, message):
    response = admin.get(url, query_string=params)

    assert_clean_4xx(response)
    assert response.is_json
    assert response.json["error"] == "invalid_parameter"
    assert message in response.json["message"]


@pytest.mark.parametrize("params,message", BAD_PARAMETERS)
def test_bad_range_parameters_answer_400_page_escaped(admin, params, message):
    response = admin.get(PAGE, query_string=params)

    assert_clean_4xx(response)
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<script>alert" not in html
    assert message in html


@pytest.mark.parametrize("url", [PAGE, JSON_URL, CSV_URL])
@pytest.mark.parametrize("name", [SCRIPT, SQL, '"><img src=x onerror=alert(1)>'])
def test_hostile_names_are_only_filters(admin, app, url, name):
    response = admin.get(url, query_string={"name": name, "range": "1h"})

    assert response.status_code == 200
    if url == JSON_URL:
        assert response.is_json and response.json["name"] == name
    else:
        body = response.get_data(as_text=True)
        assert "<script>alert" not in body and "<img src=x" not in body
    # The query ran as a parameter: the store's tables are all still there.
    tables = query(
        app.config["METRICS_DB"], "SELECT name FROM sqlite_master WHERE type='table'"
    )
    assert ("series",) in tables and ("rollup_minute",) in tables


# -- names with CSV-hostile characters round-trip through the export ------------

ODD_ENDPOINTS = [
    'say "hi"',
    "comma,separated",
    "two\nlines",
    "carriage\rreturn",
    "semi;colon=x",
    '=HYPERLINK("http://127.0.0.1/","x")',
    "+SUM(1,2)",
    "-1+2",
    "@cmd",
    "\ttabbed",
    SCRIPT,
    "ünïcødé ☃",
]
ODD_STATEMENTS = [
    'CREATE TABLE IF NOT EXISTS "we,ird""tab\nle" ("=col" TEXT, "+b" INTEGER)',
    'INSERT INTO "we,ird""tab\nle" ("=col", "+b") VALUES (\'a,"b"\n\', 1)',
    'SELECT "=col", "+b" FROM "we,ird""tab\nle" WHERE "=col" = \'x\' OR "+b" > 2',
]
REQUESTS_EACH = 3


def odd_app(metrics_db, app_db) -> Flask:
    """A plain Flask app whose endpoints and SQL carry CSV-hostile text."""
    app = Flask("odd")
    app.config.update(METRICS_DB=str(metrics_db), METRICS_SCHEDULER=False)
    Monitoring(app)

    def view():
        conn = connect(str(app_db))
        try:
            for statement in ODD_STATEMENTS:
                conn.execute(statement).fetchall()
            conn.commit()
        finally:
            conn.close()
        return "ok"

    for number, endpoint in enumerate(ODD_ENDPOINTS):
        app.add_url_rule(f"/odd/{number}", endpoint, view)
    return app


def test_odd_names_round_trip_through_csv(tmp_path, make_app):
    metrics_db = tmp_path / "odd-metrics.db"
    monitored = odd_app(metrics_db, tmp_path / "odd.db")
    client = monitored.test_client()
    for number in range(len(ODD_ENDPOINTS)):
        for _ in range(REQUESTS_EACH):
            # The timing ends when the server closes the body, as gunicorn does.
            with client.get(f"/odd/{number}") as response:
                assert response.status_code == 200
    assert monitored.extensions["starpunk.monitoring"].flush()

    site = make_app(METRICS_DB=str(metrics_db))
    connection = open_connection(site.config["DATABASE_PATH"])
    admin_token = create_token(connection, "export")
    connection.close()
    response = site.test_client().get(
        CSV_URL,
        query_string={"range": "1h"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))

    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row["kind"], row["name"])
        counts[key] = counts.get(key, 0) + int(row["count"])
    for endpoint in ODD_ENDPOINTS:
        assert counts[("http", neutralize(endpoint))] == REQUESTS_EACH, endpoint
    for statement in ODD_STATEMENTS:
        name = normalize_sql(statement)[0]
        assert counts[("db", neutralize(name))] == REQUESTS_EACH * len(ODD_ENDPOINTS)
    formula_cells = [
        cell
        for row in rows
        for key, cell in row.items()
        if key in ("kind", "name", "labels", "unit")
    ]
    assert not [cell for cell in formula_cells if cell[:1] in "=+-@\t\r"]
    # Values of the INSERT never reach the metrics.
    assert not [row for row in rows if 'a,"b"' in row["name"]]

    page = site.test_client().get(
        PAGE,
        query_string={"range": "1h"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert page.status_code == 200
    assert "<script>alert" not in page.get_data(as_text=True)
    assert "&lt;script&gt;alert" in page.get_data(as_text=True)


# -- Micropub bodies -----------------------------------------------------------

MICROPUB_BAD_BODIES = [
    ("bad json", "application/json", b'{"type": ["h-entry"], "properties": {', 400),
    ("json array", "application/json", b'[{"type": ["h-entry"]}]', 400),
    ("json string", "application/json", b'"h-entry"', 400),
    ("invalid utf-8 json", "application/json", b'{"type": ["h-\xff\xfe"]}', 400),
    ("missing type", "application/json", b'{"properties": {"content": ["x"]}}', 400),
    (
        "wrong type",
        "application/json",
        b'{"type": ["h-event"], "properties": {"content": ["x"]}}',
        400,
    ),
    (
        "content not a list",
        "application/json",
        b'{"type": ["h-entry"], "properties": {"content": "x"}}',
        400,
    ),
    (
        "content object without text",
        "application/json",
        b'{"type": ["h-entry"], "properties": {"content": [{"html": 5}]}}',
        400,
    ),
    (
        "deeply nested json",
        "application/json",
        b"[" * 100_000 + b"]" * 100_000,
        400,
    ),
    ("wrong content type", "text/plain", b"h=entry&content=hello", 400),
    ("xml", "application/xml", b"<entry><content>hi</content></entry>", 400),
    ("form without content", "application/x-www-form-urlencoded", b"h=entry", 400),
    ("form h=event", "application/x-www-form-urlencoded", b"h=event&content=x", 400),
    (
        "form unsupported action",
        "application/x-www-form-urlencoded",
        b"action=delete&url=x",
        400,
    ),
    (
        "huge json",
        "application/json",
        json.dumps(
            {"type": ["h-entry"], "properties": {"content": ["x" * 2_000_000]}}
        ).encode(),
        413,
    ),
    (
        "huge form",
        "application/x-www-form-urlencoded",
        b"h=entry&content=" + b"x" * 2_000_000,
        413,
    ),
    (
        "huge multipart",
        "multipart/form-data; boundary=BOUNDARY",
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="content"\r\n\r\n'
        + b"x" * 2_000_000
        + b"\r\n--BOUNDARY--\r\n",
        413,
    ),
]


@pytest.mark.parametrize(
    "content_type,body,status",
    [case[1:] for case in MICROPUB_BAD_BODIES],
    ids=[case[0] for case in MICROPUB_BAD_BODIES],
)
def test_bad_micropub_bodies_get_micropub_errors(
    client, db, token, content_type, body, status
):
    response = client.post(
        "/micropub",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )

    assert_clean_4xx(response, status)
    assert response.is_json
    assert set(response.json) == {"error", "error_description"}
    expected = "invalid_request" if status == 400 else "request_too_large"
    assert response.json["error"] == expected
    assert db.execute("SELECT count(*) FROM notes").fetchone()[0] == 0


# -- through real gunicorn -----------------------------------------------------

FLOOD = 20_000
ODD_METHODS = {"HEAD": 100, "BREW": 100}


@pytest.fixture(scope="module")
def site_and_server(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("bad-input"), METRICS_FLUSH_SECONDS=0.5)
    token = site.init("bad-input-password")
    site.seed_notes(2)
    server = site.server(workers=4).start(ready_path="/health")
    yield site, server, token
    server.stop()


@pytest.mark.slow
def test_random_404_flood_keeps_series_bounded(site_and_server):
    site, server, _token = site_and_server
    paths = [f"/{uuid.uuid4().hex}/{i}?q={uuid.uuid4().hex}" for i in range(FLOOD)]
    odd = [
        (m, f"/{uuid.uuid4().hex}") for m, n in ODD_METHODS.items() for _ in range(n)
    ]

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda path: server.get(path)[0], paths))
        odd_statuses = list(pool.map(lambda mp: request(server.port, *mp)[0], odd))
    assert statuses == [404] * FLOOD
    assert odd_statuses == [404] * len(odd)

    expected = {
        ("http", "<unmatched>", "method=GET;status=4xx"): FLOOD,
        ("http", "<unmatched>", "method=HEAD;status=4xx"): ODD_METHODS["HEAD"],
        ("http", "<unmatched>", "method=OTHER;status=4xx"): ODD_METHODS["BREW"],
    }

    def unmatched():
        totals = series_totals(site.metrics_db, "http")
        return {k: v for k, v in totals.items() if k[1] == "<unmatched>"}

    assert wait_for(lambda: unmatched() == expected, 20), unmatched()
    series = query(site.metrics_db, "SELECT kind, name, labels FROM series")
    assert len(series) < 60, series
    assert not [s for s in series if s[1].startswith("/")]
    overflow = query(
        site.metrics_db, "SELECT value FROM counters WHERE name = 'overflow_samples'"
    )
    assert overflow in ([], [(0,)], [(0.0,)])


UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_TARGETS = [
    ("/micropub", "application/json", "micropub.create"),
    ("/micropub", "application/x-www-form-urlencoded", "micropub.create"),
    ("/admin/login", "application/x-www-form-urlencoded", "admin.login"),
    ("/admin/notes/new", "multipart/form-data; boundary=B", "admin.new_note"),
]


@pytest.mark.slow
@pytest.mark.parametrize("path,content_type,endpoint", UPLOAD_TARGETS)
def test_20mb_upload_is_refused_before_its_body_is_read(
    site_and_server, path, content_type, endpoint
):
    site, server, token = site_and_server
    before = series_totals(site.metrics_db, "http").get(
        ("http", endpoint, "method=POST;status=4xx"), 0
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {UPLOAD_BYTES}\r\nConnection: close\r\n\r\n"
    ).encode()

    # Only the head is sent: had anything, monitoring included, tried to read
    # the 20 MB body, no answer would come before the socket timeout.
    started = time.monotonic()
    answer = raw_request(server.port, head, timeout=10)
    assert time.monotonic() - started < 5
    assert status_of(answer) == 413
    assert b"Traceback" not in answer

    # The monitoring still counted the refused request.
    key = ("http", endpoint, "method=POST;status=4xx")
    assert wait_for(
        lambda: series_totals(site.metrics_db, "http").get(key, 0) == before + 1, 10
    )


INVALID_PATHS = [
    b"/notes/%ff%fe",
    b"/notes/\xff\xfe",
    b"/\xc3\x28",
    b"/notes/%c3%28",
    b"/%ed%a0%80",
    b"/notes/%00",
    b"/static/%ff",
    b"/?page=%ff",
    b"/feed.atom?x=\xff",
    b"/admin/metrics?range=%ff",
    b"/admin/metrics?from=%ff%fe&to=%00",
    b"/admin/metrics-dashboard?name=%ff",
]


@pytest.mark.slow
@pytest.mark.parametrize("path", INVALID_PATHS, ids=repr)
def test_invalid_utf8_in_paths_is_a_4xx(site_and_server, path):
    site, server, token = site_and_server
    head = (
        b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nConnection: close\r\n\r\n"
    )

    answer = raw_request(server.port, head)

    status = status_of(answer)
    if path.startswith(b"/admin/metrics-dashboard"):
        assert status == 200, answer[:300]
    else:
        assert 400 <= status < 500, answer[:300]
    assert b"Traceback" not in answer
    assert "Traceback" not in site.log_text()


def test_metrics_store_is_intact_after_hostile_input(site_and_server):
    site, server, _token = site_and_server
    assert server.get("/health")[0] == 200
    check = sqlite3.connect(site.metrics_db)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        check.close()
