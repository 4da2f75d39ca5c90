"""The dashboard blueprint: HTML page, JSON API, CSV export and their guards."""

from __future__ import annotations

import csv
import io
import re
import types

import pytest
from freezegun import freeze_time

from metrics_store.queries import query_series
from metrics_store.ranges import parse_query
from metrics_store.store import MetricsStore
from metrics_store.timebuckets import MINUTE, floor_to
from starpunk.monitoring import dashboard
from tests.metrics_fixtures import (
    AUTH_HEADER,
    NOW,
    SELECT_NOTES,
    make_app,
    seed_site,
    site_samples,
)

ADMIN = {AUTH_HEADER: "yes"}
PAGE = "/admin/metrics-dashboard"
JSON = "/admin/metrics"
CSV = "/admin/metrics/export.csv"


@pytest.fixture
def frozen():
    with freeze_time("2023-11-14T22:13:20Z") as frozen:
        yield frozen


@pytest.fixture
def store(tmp_path, frozen):
    store = MetricsStore(tmp_path / "metrics.db")
    yield store
    store.close()


@pytest.fixture
def seeded(store):
    seed_site(store)
    return store


@pytest.fixture
def client(seeded):
    return make_app(seeded).test_client()


@pytest.fixture
def empty_client(store):
    return make_app(store).test_client()


def get(client, url, **params):
    return client.get(url, query_string=params, headers=ADMIN)


def chart(html: str, key: str) -> str:
    match = re.search(
        rf'<section class="panel[^"]*" data-chart="{key}">(.*?)</section>', html, re.S
    )
    assert match, f"no chart {key!r} on the page"
    return match.group(1)


def line_points(html: str, key: str) -> dict[str, int]:
    return {
        label: int(points)
        for label, points in re.findall(
            r'<g class="line [^"]*" data-label="([^"]*)" data-values="[^"]*" '
            r'data-points="(\d+)">',
            chart(html, key),
        )
    }


def seeded_minutes(kind: str, name: str, start: int, end: int) -> int:
    return len(
        {
            floor_to(ts, MINUTE)
            for ts, k, n, *_ in site_samples()
            if (k, n) == (kind, name) and start <= ts < end
        }
    )


# -- guards ------------------------------------------------------------------


def test_anonymous_page_visitors_are_sent_to_the_login(client):
    response = client.get(PAGE)

    assert response.status_code == 302
    assert response.location.startswith("/admin/login")


@pytest.mark.parametrize("url", [JSON, CSV])
def test_anonymous_api_callers_get_401(client, url):
    response = client.get(url)

    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"


def test_a_logged_in_session_opens_every_route(client):
    client.get("/admin/login")

    for url in (PAGE, JSON, CSV):
        assert client.get(url).status_code == 200


# -- HTML page ---------------------------------------------------------------


def test_dashboard_shows_every_panel_with_data(client):
    response = get(client, PAGE, range="1h")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "data-empty" not in html
    for key in (
        "requests",
        "errors",
        "latency",
        "db_rate",
        "db_latency",
        "render",
        "rss_bytes",
        "cpu_percent",
    ):
        assert sum(line_points(html, key).values()) > 0, key
    assert "public.index" in html and SELECT_NOTES in html and "index.html" in html
    assert "4101" in html and "4102" in html


def test_charts_hold_one_point_per_seeded_bucket(client):
    query = parse_query({"range": "1h"}, NOW)
    start, end = query.time_range.start, query.time_range.end

    html = get(client, PAGE, range="1h").get_data(as_text=True)

    minutes = seeded_minutes("render", "note.html", start, end)
    assert 50 < minutes < 60
    assert line_points(html, "requests") == {
        "2xx": minutes,
        "4xx": minutes,
        "5xx": seeded_minutes("http", "admin.index", start, end),
    }
    assert line_points(html, "latency") == {
        "p50": minutes,
        "p95": minutes,
        "p99": minutes,
    }
    assert line_points(html, "errors") == {"5xx": minutes, "4xx": minutes}
    assert line_points(html, "rss_bytes") == {
        "worker 1": minutes,
        "worker 2": minutes,
        "total": minutes,
    }


def test_gaps_break_the_line(client):
    html = get(client, PAGE, range="1h").get_data(as_text=True)

    (path,) = re.findall(
        r'data-label="p50".*?<path d="([^"]*)"', chart(html, "latency")
    )
    # Minutes 5, 22, 39, 56, ... of the seed are empty: each starts a new segment.
    assert path.count("M") >= 3
    assert "NaN" not in html


def test_hour_ranges_chart_hours(client):
    html = get(client, PAGE, range="7d").get_data(as_text=True)

    points = line_points(html, "requests")
    assert points["2xx"] == 3  # 120 minutes of seed touch three hours


def test_empty_database_renders_calm_empty_charts(empty_client):
    response = get(empty_client, PAGE, range="24h")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count('data-empty="1"') == 8
    assert "No data in this range" in html
    assert "No requests in this range." in html


def test_endpoint_rows_link_to_their_own_view(client):
    html = get(client, PAGE, range="6h").get_data(as_text=True)

    assert (
        'href="/admin/metrics-dashboard?range=6h&amp;kind=http&amp;name=public.note"'
        in html
    )


def test_endpoint_view_breaks_down_by_labels(client):
    response = get(client, PAGE, range="6h", kind="http", name="public.note")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Breakdown by labels" in html
    assert "method=GET;status=2xx" in html and "method=GET;status=4xx" in html
    assert sum(line_points(html, "count").values()) > 0
    assert sum(line_points(html, "latency").values()) > 0


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "public.index"}, "Breakdown by labels"),
        ({"kind": "db", "name": SELECT_NOTES}, "op=SELECT"),
        ({"kind": "render", "name": "index.html"}, "Latency"),
        ({"kind": "process", "name": "rss_bytes"}, "Memory (RSS) per worker"),
    ],
)
def test_detail_views_for_every_kind(client, params, expected):
    response = get(client, PAGE, range="6h", **params)

    assert response.status_code == 200
    assert expected in response.get_data(as_text=True)


def test_range_links_keep_the_filter_and_drop_custom_bounds(client):
    html = get(
        client,
        PAGE,
        **{"from": "2023-11-14T20:00Z", "to": "2023-11-14T22:00Z", "kind": "http"},
        name="static",
    ).get_data(as_text=True)

    assert (
        'href="/admin/metrics-dashboard?kind=http&amp;name=static&amp;range=1h"' in html
    )
    assert 'value="2023-11-14T20:00"' in html


def test_page_assets_are_served(client):
    assert client.get("/admin/metrics/static/metrics.js").status_code == 200
    assert client.get("/admin/metrics/static/metrics.css").status_code == 200
    assert client.get("/admin/metrics/static/favicon.svg").status_code == 200


# -- bad parameters ------------------------------------------------------------

BAD_PARAMS = [
    ({"range": "2h"}, "unknown range"),
    ({"range": "1h", "from": "2023-11-14T10:00Z"}, "either range or from/to"),
    ({"from": "last tuesday"}, "ISO 8601"),
    ({"from": "2023-11-14T10:00Z", "to": "2023-11-14T09:00Z"}, "before to"),
    ({"to": "2023-11-14T09:00Z"}, "from is required"),
    ({"from": "2022-01-01", "to": "2023-11-01"}, "400 days"),
    ({"range": "90d", "resolution": "minute"}, "resolution=hour"),
    ({"resolution": "fortnight"}, "resolution must be one of"),
    ({"kind": "cpu"}, "kind must be one of"),
    ({"name": "n" * 600}, "at most 500"),
]


@pytest.mark.parametrize("url", [JSON, CSV])
@pytest.mark.parametrize(("params", "message"), BAD_PARAMS)
def test_bad_parameters_answer_400_json(client, url, params, message):
    response = get(client, url, **params)

    assert response.status_code == 400
    assert response.json["error"] == "invalid_parameter"
    assert message in response.json["message"]


@pytest.mark.parametrize(("params", "message"), BAD_PARAMS)
def test_bad_parameters_answer_400_page(client, params, message):
    response = get(client, PAGE, **params)

    assert response.status_code == 400
    assert message in response.get_data(as_text=True).replace("&#39;", "'")


def test_json_refuses_answers_too_big_to_hold(client, monkeypatch):
    monkeypatch.setattr(dashboard, "MAX_JSON_POINTS", 100)

    response = get(client, JSON, range="6h")

    assert response.status_code == 400
    assert "CSV export" in response.json["message"]


# -- JSON ----------------------------------------------------------------------


def test_json_shape(client):
    body = get(client, JSON, range="1h").json

    assert body["from"] == "2023-11-14T21:14:00Z"
    assert body["to"] == "2023-11-14T22:14:00Z"
    assert body["resolution"] == "minute"
    assert {s["kind"] for s in body["series"]} == {"http", "db", "render", "process"}
    series = body["series"][0]
    assert set(series) == {"kind", "name", "labels", "unit", "points"}
    point = series["points"][0]
    assert set(point) == {"t", "count", "sum", "min", "max", "avg", "p50", "p95", "p99"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z", point["t"])
    assert isinstance(point["count"], int)
    assert [p["pid"] for p in body["processes"]] == [4101, 4102]
    assert body["processes"][0]["rss_bytes"] == 61e6
    status = body["status"]
    assert status["buffered"] == 12 and status["dropped"] == 0
    assert status["last_flush"] == "2023-11-14T22:13:16Z"
    assert status["db_size_bytes"] > 0


def test_json_filters_by_kind_and_name(client):
    body = get(client, JSON, range="6h", kind="db", name=SELECT_NOTES).json

    assert [(s["kind"], s["name"]) for s in body["series"]] == [("db", SELECT_NOTES)]
    assert (body["kind"], body["name"]) == ("db", SELECT_NOTES)


def test_json_on_an_empty_database(empty_client):
    body = get(empty_client, JSON, range="90d").json

    assert body["series"] == [] and body["processes"] == []
    assert body["resolution"] == "hour"


@pytest.mark.parametrize(
    "params",
    [
        {"range": "6h"},
        {"range": "24h"},
        {"range": "24h", "resolution": "minute"},
        {"from": "2023-11-14T20:30:00Z", "to": "2023-11-14T21:45:00+00:00"},
    ],
)
def test_json_csv_and_store_agree(client, seeded, params):
    body = get(client, JSON, **params).json
    response = get(client, CSV, **params)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    query = parse_query(params, NOW)
    with seeded.reading() as conn:
        stored = query_series(conn, query)

    from_json = {
        (p["t"], s["kind"], s["name"], s["labels"]): p
        for s in body["series"]
        for p in s["points"]
    }
    from_csv = {(r["bucket_start"], r["kind"], r["name"], r["labels"]): r for r in rows}
    assert from_json.keys() == from_csv.keys()
    assert len(from_json) == sum(len(s.points) for s in stored) > 0
    for key, point in from_json.items():
        row = from_csv[key]
        assert row["resolution"] == body["resolution"]
        for column in ("count", "sum", "min", "max", "avg", "p50", "p95", "p99"):
            assert float(row[column]) == pytest.approx(point[column], abs=1e-6)
    seeded_count = sum(
        1
        for ts, *_ in site_samples()
        if query.time_range.start <= ts < query.time_range.end
    )
    assert sum(p["count"] for p in from_json.values()) == seeded_count


# -- CSV -----------------------------------------------------------------------


def test_csv_is_an_attachment_named_after_the_range(client):
    response = get(client, CSV, range="1h")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="starpunk-metrics-20231114T211400Z-20231114T221400Z.csv"'
    )
    assert response.is_streamed
    assert response.get_data(as_text=True).startswith("bucket_start,resolution,kind,")


def test_csv_on_a_new_database_is_just_the_header(tmp_path, frozen):
    store = MetricsStore(tmp_path / "fresh" / "metrics.db")
    client = make_app(store).test_client()

    response = get(client, CSV)

    assert response.get_data(as_text=True).count("\r\n") == 1
    store.close()


@pytest.mark.parametrize("url", [PAGE, JSON, CSV])
def test_unreadable_database_answers_503_with_the_reason(tmp_path, frozen, url):
    path = tmp_path / "metrics.db"
    path.write_bytes(b"this is not a database" * 400)
    store = MetricsStore(path)
    try:
        response = get(make_app(store).test_client(), url, range="1h")
    finally:
        store.close()
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert "metrics.db" in text and "not a database" in text
    assert "Traceback" not in text
    if url == JSON:
        assert response.get_json()["error"] == "metrics_unavailable"


def test_the_page_says_when_monitoring_is_off(seeded):
    app = make_app(seeded)
    app.extensions["starpunk.monitoring"].health = lambda: {"enabled": False}
    html = get(app.test_client(), PAGE, range="24h").get_data(as_text=True)
    assert "Monitoring is off" in html
    assert 'class="card ok"' not in html  # no healthy accent without a flush


def test_the_page_has_no_off_notice_while_monitoring_runs(client):
    html = get(client, PAGE, range="24h").get_data(as_text=True)
    assert "Monitoring is off" not in html


def test_minute_buckets_past_their_retention_answer_400_everywhere(seeded):
    app = make_app(seeded)
    app.extensions["starpunk.monitoring"].settings = types.SimpleNamespace(
        retain_minute_days=1.0
    )
    client = app.test_client()
    params = {
        "from": "2023-11-10T10:00Z",
        "to": "2023-11-10T11:00Z",
        "resolution": "minute",
    }
    for url in (PAGE, JSON, CSV):
        response = get(client, url, **params)
        assert response.status_code == 400
        assert "kept for 1 day " in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("preset", "width"),
    [("1h", "1-minute"), ("24h", "1-hour"), ("7d", "1-hour"), ("90d", "1-day")],
)
def test_the_page_names_the_bucket_width_its_charts_use(client, preset, width):
    html = get(client, PAGE, range=preset).get_data(as_text=True)
    assert f'<span class="pill">{width} buckets</span>' in html
