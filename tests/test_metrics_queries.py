"""Range parameters and rollup queries."""

from __future__ import annotations

import math

import pytest

from metrics_store.activity import count_events, live_workers, recent_events
from metrics_store.errors import QueryError
from metrics_store.queries import (
    count_points,
    counts_by_label,
    merged_totals,
    parse_labels,
    query_series,
)
from metrics_store.ranges import MetricsQuery, TimeRange, parse_query
from metrics_store.store import MetricsStore
from metrics_store.summaries import summarize, top_by_total
from metrics_store.timebuckets import DAY, HOUR, MINUTE, floor_to
from tests.metrics_fixtures import (
    GET_2XX,
    GET_5XX,
    NOW,
    SELECT_NOTES,
    report_worker,
    sample,
    seed,
    seed_site,
    site_samples,
)


@pytest.fixture
def store(tmp_path):
    store = MetricsStore(tmp_path / "metrics.db")
    yield store
    store.close()


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


# -- range parameters -------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "span", "resolution"),
    [
        ("1h", HOUR, "minute"),
        ("6h", 6 * HOUR, "minute"),
        ("24h", DAY, "hour"),
        ("7d", 7 * DAY, "hour"),
        ("30d", 30 * DAY, "hour"),
        ("90d", 90 * DAY, "hour"),
    ],
)
def test_presets_end_with_the_current_bucket(preset, span, resolution):
    query = parse_query({"range": preset}, NOW)
    time_range = query.time_range

    assert time_range.span == span
    assert time_range.resolution == resolution
    assert time_range.preset == preset
    assert time_range.start % time_range.step == 0
    assert time_range.end - time_range.step <= NOW < time_range.end
    assert len(time_range.buckets()) == span // time_range.step


def test_defaults_to_the_last_day():
    time_range = parse_query({}, NOW).time_range

    assert (time_range.preset, time_range.span, time_range.resolution) == (
        "24h",
        DAY,
        "hour",
    )


@pytest.mark.parametrize(
    ("start", "end", "expected_start", "expected_end"),
    [
        ("2023-11-14T20:00:00Z", "2023-11-14T21:00:00Z", NOW - 8000, NOW - 4400),
        ("2023-11-14T22:00:00+02:00", "2023-11-14T23:00+02:00", NOW - 8000, NOW - 4400),
        ("2023-11-14T20:00:00", "2023-11-14T21:00:00", NOW - 8000, NOW - 4400),
        ("2023-11-14T20:00:30Z", "2023-11-14T20:59:30Z", NOW - 8000, NOW - 4400),
    ],
)
def test_from_and_to_accept_z_offsets_and_naive_utc(
    start, end, expected_start, expected_end
):
    time_range = parse_query({"from": start, "to": end}, NOW).time_range

    assert (time_range.start, time_range.end) == (expected_start, expected_end)
    assert time_range.resolution == "minute"
    assert time_range.preset is None


def test_from_alone_runs_until_now():
    time_range = parse_query({"from": "2023-11-14T20:00:00Z"}, NOW).time_range

    assert time_range.end == NOW - NOW % MINUTE + MINUTE


@pytest.mark.parametrize(
    ("params", "resolution"),
    [
        ({"from": "2023-11-14T16:00Z", "to": "2023-11-14T22:00Z"}, "minute"),
        ({"from": "2023-11-14T15:59Z", "to": "2023-11-14T22:00Z"}, "hour"),
        ({"range": "1h", "resolution": "hour"}, "hour"),
        ({"range": "7d", "resolution": "minute"}, "minute"),
        ({"range": "6h", "resolution": ""}, "minute"),
    ],
)
def test_resolution_follows_the_range_unless_asked(params, resolution):
    assert parse_query(params, NOW).time_range.resolution == resolution


def test_hour_resolution_aligns_custom_ranges_to_hours():
    params = {"from": "2023-11-10T10:30Z", "to": "2023-11-12T10:30Z"}

    time_range = parse_query(params, NOW).time_range

    assert time_range.resolution == "hour"
    assert time_range.start % HOUR == 0 and time_range.end % HOUR == 0
    assert time_range.span == 49 * HOUR


def test_an_auto_range_before_the_kept_minutes_gets_hour_buckets():
    old = {"from": "2023-11-01T10:00Z", "to": "2023-11-01T11:00Z"}
    recent = {"from": "2023-11-14T10:00Z", "to": "2023-11-14T11:00Z"}

    assert parse_query(old, NOW, minute_days=7).time_range.resolution == "hour"
    assert parse_query(recent, NOW, minute_days=7).time_range.resolution == "minute"
    assert parse_query(old, NOW).time_range.resolution == "minute"


def test_minute_buckets_before_the_kept_minutes_are_refused():
    params = {
        "from": "2023-11-01T10:00Z",
        "to": "2023-11-01T11:00Z",
        "resolution": "minute",
    }
    with pytest.raises(QueryError) as caught:
        parse_query(params, NOW, minute_days=7)

    message = str(caught.value)
    assert "kept for 7 days" in message and "resolution=hour" in message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "2h"}, "unknown range '2h'; use one of 1h, 6h, 24h, 7d"),
        ({"range": "-1h"}, "unknown range '-1h'"),
        ({"range": "1h", "from": "2023-11-14"}, "either range or from/to"),
        ({"from": "yesterday"}, "from is not an ISO 8601 time: 'yesterday'"),
        ({"from": "2023-11-14", "to": "2023-13-01"}, "to is not an ISO 8601 time"),
        ({"to": "2023-11-14T10:00Z"}, "from is required when to is given"),
        ({"from": "2023-11-14T10:00Z", "to": "2023-11-14T09:00Z"}, "before to"),
        ({"from": "2023-11-14T10:00Z", "to": "2023-11-14T10:00Z"}, "before to"),
        ({"from": "1969-12-31T00:00Z", "to": "1970-01-02T00:00Z"}, "before 1970"),
        ({"from": "2020-01-01", "to": "2023-01-01"}, "at most 400 days"),
        ({"range": "30d", "resolution": "minute"}, "use resolution=hour"),
        ({"resolution": "second"}, "resolution must be one of auto, minute, hour"),
        ({"kind": "cpu"}, "kind must be one of http, db, render, process; got 'cpu'"),
        ({"name": "x" * 501}, "name must be at most 500 characters"),
    ],
)
def test_bad_parameters_say_what_is_accepted(params, message):
    with pytest.raises(QueryError) as caught:
        parse_query(params, NOW)

    assert message in str(caught.value)


# -- series points ----------------------------------------------------------


def test_points_merge_workers_and_leave_gaps(store):
    base = NOW - NOW % MINUTE - HOUR
    values = {0: [10.0, 20.0, 30.0], 1: [40.0], 3: [5.0, 7.0]}
    worker_a = [(m, v) for m, vs in values.items() for v in vs]
    worker_b = [(0, 30.0), (1, 40.0)]
    for worker in (worker_a, worker_b):
        seed(
            store,
            [
                sample(base + m * MINUTE + 1, "http", "public.index", v, GET_2XX)
                for m, v in worker
            ],
        )
    query = parse_query({"range": "1h"}, base + 300)

    with store.reading() as conn:
        (series,) = query_series(conn, query)

    assert (series.kind, series.name, series.labels, series.unit) == (
        "http",
        "public.index",
        GET_2XX,
        "ms",
    )
    assert [p.bucket for p in series.points] == [base, base + 60, base + 180]
    assert [p.count for p in series.points] == [4, 2, 2]
    first = series.points[0]
    assert (first.sum, first.min, first.max, first.avg) == (90, 10, 30, 22.5)


def test_a_minute_without_rows_is_absent_not_zero(store):
    seed_site(store)
    query = parse_query({"range": "1h", "kind": "render", "name": "note.html"}, NOW)

    with store.reading() as conn:
        (series,) = query_series(conn, query)

    buckets = [p.bucket for p in series.points]
    seeded = {
        floor_to(ts, MINUTE)
        for ts, kind, name, *_ in site_samples()
        if (kind, name) == ("render", "note.html")
    }
    expected = [b for b in query.time_range.buckets() if b in seeded]
    assert len(expected) < 60
    assert buckets == expected
    assert all(p.count > 0 for p in series.points)


def test_percentiles_are_within_one_percent_and_clamped(store):
    values = [1.0 + (i * 37 % 1000) / 10 for i in range(1000)]
    seed(store, [sample(NOW - 30, "db", SELECT_NOTES, v, "op=SELECT") for v in values])
    query = parse_query({"range": "1h", "kind": "db"}, NOW)

    with store.reading() as conn:
        (series,) = query_series(conn, query)

    (point,) = series.points
    for q, got in ((0.5, point.p50), (0.95, point.p95), (0.99, point.p99)):
        exact = exact_quantile(values, q)
        assert abs(got - exact) <= 0.01 * exact
    assert point.min <= point.p50 <= point.p99 <= point.max


def test_a_single_value_reports_itself_as_every_percentile(store):
    seed(store, [sample(NOW - 30, "render", "index.html", 7.3)])
    query = parse_query({"range": "1h"}, NOW)

    with store.reading() as conn:
        (point,) = query_series(conn, query)[0].points

    assert point.p50 == point.p95 == point.p99 == 7.3


def test_hour_buckets_read_dirty_hours_from_minutes(store):
    samples = [
        sample(NOW - 5000 + i * 97, "http", "public.index", 5 + i % 50, GET_2XX)
        for i in range(50)
    ]
    seed(store, samples, rollup=False)
    query = parse_query({"range": "24h", "resolution": "hour"}, NOW)

    with store.reading() as conn:
        before = query_series(conn, query)
    store.rollup_hours()
    with store.reading() as conn:
        after = query_series(conn, query)

    assert [p.count for p in before[0].points] == [p.count for p in after[0].points]
    assert before == after
    assert sum(p.count for p in after[0].points) == 50


def test_filters_by_kind_and_name(store):
    seed_site(store)
    time_range = parse_query({}, NOW).time_range

    with store.reading() as conn:
        names = {
            (s.kind, s.name)
            for s in query_series(conn, MetricsQuery(time_range, kind="http"))
        }
        only = query_series(conn, MetricsQuery(time_range, name="static"))

    assert names == {
        ("http", "admin.index"),
        ("http", "public.index"),
        ("http", "public.note"),
        ("http", "static"),
    }
    assert [(s.kind, s.name) for s in only] == [("http", "static")]


def test_count_points_bounds_the_series_answer(store):
    seed_site(store)
    query = parse_query({"range": "24h"}, NOW)

    with store.reading() as conn:
        total = sum(len(s.points) for s in query_series(conn, query))
        counted = count_points(conn, query)

    assert counted == total


# -- merged totals and breakdowns --------------------------------------------


def test_merged_totals_union_every_series_of_a_kind(store):
    ts = NOW - 100
    fast = [float(v) for v in range(1, 201)]
    slow = [float(v) for v in range(500, 520)]
    seed(store, [sample(ts, "http", "public.index", v, GET_2XX) for v in fast])
    seed(store, [sample(ts, "http", "admin.index", v, GET_5XX) for v in slow])
    time_range = parse_query({"range": "1h"}, NOW).time_range

    with store.reading() as conn:
        (point,) = merged_totals(conn, time_range, "http")

    everything = fast + slow
    assert point.count == 220
    assert point.sum == sum(everything)
    assert (point.min, point.max) == (1, 519)
    assert abs(point.p95 - exact_quantile(everything, 0.95)) <= 0.01 * 519
    assert abs(point.p50 - exact_quantile(everything, 0.5)) <= 0.01 * 110


def test_counts_by_status_class_per_bucket(store):
    seed_site(store)
    time_range = parse_query({"range": "1h"}, NOW).time_range

    with store.reading() as conn:
        by_status = counts_by_label(conn, time_range, "http", "status")

    assert set(by_status) == {"2xx", "4xx", "5xx"}
    assert set(by_status["2xx"].values()) == {8}
    assert set(by_status["4xx"].values()) == {1}
    assert set(by_status["5xx"].values()) == {1}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ("method=GET;status=2xx", {"method": "GET", "status": "2xx"}),
        ("pid=12", {"pid": "12"}),
        ("", {}),
        ("odd", {}),
    ],
)
def test_parse_labels(labels, expected):
    assert parse_labels(labels) == expected


# -- summaries ---------------------------------------------------------------


@pytest.mark.parametrize("preset", ["1h", "6h", "24h", "7d"])
def test_summaries_equal_the_merge_of_every_point(store, preset):
    seed_site(store, minutes=300)
    query = parse_query({"range": preset, "kind": "http"}, NOW)

    with store.reading() as conn:
        summaries = {s.name: s for s in summarize(conn, query.time_range, "http")}
        series = query_series(conn, query)

    for name, summary in summaries.items():
        points = [p for s in series if s.name == name for p in s.points]
        assert summary.count == sum(p.count for p in points)
        assert summary.sum == pytest.approx(sum(p.sum for p in points))
        assert summary.max == max(p.max for p in points)
        assert summary.min == min(p.min for p in points)
    assert summaries["admin.index"].error_ratio == 1.0
    assert summaries["public.note"].errors == 0


def test_summaries_rank_busiest_first_and_break_down_by_labels(store):
    seed_site(store)
    time_range = parse_query({"range": "1h"}, NOW).time_range

    with store.reading() as conn:
        ranked = summarize(conn, time_range, "http")
        breakdown = summarize(
            conn, time_range, "http", name="public.note", group="labels"
        )

    assert [s.name for s in ranked][:2] == ["public.index", "public.note"]
    assert {s.labels for s in breakdown} == {GET_2XX, "method=GET;status=4xx"}


def test_summary_percentiles_merge_across_tiers(store):
    values = [float(v) for v in range(1, 601)]
    seed(
        store,
        [
            sample(NOW - 7 * 3600 + i * 41, "db", SELECT_NOTES, v, "op=SELECT")
            for i, v in enumerate(values)
        ],
    )
    time_range = parse_query({"range": "24h"}, NOW).time_range

    with store.reading() as conn:
        (summary,) = summarize(conn, time_range, "db")

    assert summary.count == 600
    for q, got in ((0.5, summary.p50), (0.99, summary.p99)):
        assert abs(got - exact_quantile(values, q)) <= 0.01 * exact_quantile(values, q)


def test_top_by_total_ranks_by_time_spent_and_decodes_only_the_top(store):
    seed_site(store)
    time_range = parse_query({"range": "6h"}, NOW).time_range

    with store.reading() as conn:
        everything = {s.name: s for s in summarize(conn, time_range, "db")}
        top = top_by_total(conn, time_range, "db", 2)

    ranked = sorted(everything.values(), key=lambda s: -s.sum)[:2]
    assert [s.name for s in top] == [s.name for s in ranked]
    assert top == ranked


# -- events and workers ------------------------------------------------------


def test_recent_events_newest_first_with_filters(store):
    seed_site(store)
    time_range = parse_query({"range": "24h"}, NOW).time_range

    with store.reading() as conn:
        everything = recent_events(conn, time_range, limit=500)
        errors = recent_events(conn, time_range, errors_only=True, limit=500)
        db = recent_events(conn, time_range, kind="db")
        slow, failed = count_events(conn, time_range)

    assert [e.ts for e in everything] == sorted(
        (e.ts for e in everything), reverse=True
    )
    assert errors and all(e.error and e.kind == "http" for e in errors)
    assert db and all(e.kind == "db" and e.detail == "slow" for e in db)
    assert (slow, failed) == (len(db), len(errors))


def test_live_workers_are_those_seen_recently(store):
    report_worker(store, 11, NOW - 10, {"rss_bytes": 5e6})
    report_worker(store, 12, NOW - 500, {"rss_bytes": 6e6})

    with store.reading() as conn:
        workers = live_workers(conn, NOW, seen_within=60)

    assert [w.pid for w in workers] == [11]
    assert workers[0].rss_bytes == 5e6


def test_an_empty_store_answers_every_query(store):
    query = parse_query({"range": "90d"}, NOW)
    time_range: TimeRange = query.time_range

    with store.reading() as conn:
        assert query_series(conn, query) == []
        assert merged_totals(conn, time_range, "http") == []
        assert counts_by_label(conn, time_range, "http", "status") == {}
        assert summarize(conn, time_range, "db") == []
        assert recent_events(conn, time_range) == []
        assert live_workers(conn, NOW) == []
