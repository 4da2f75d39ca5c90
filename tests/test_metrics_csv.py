"""Streaming CSV export: columns, quoting, formula cells and flat memory."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from metrics_store.csv_writer import (
    COLUMNS,
    export_filename,
    format_number,
    iter_csv,
    neutralize,
)
from metrics_store.queries import Point, SeriesInfo, iter_points, open_reader
from metrics_store.ranges import parse_query
from metrics_store.store import MetricsStore
from tests.metrics_fixtures import NOW, sample, seed, seed_site

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path):
    store = MetricsStore(tmp_path / "metrics.db")
    yield store
    store.close()


def export(store: MetricsStore, params: dict) -> str:
    query = parse_query(params, NOW)
    with store.reading() as conn:
        return "".join(iter_csv(iter_points(conn, query), query.time_range.resolution))


def test_header_is_exactly_the_contract():
    text = "".join(iter_csv([], "minute"))

    assert text == (
        "bucket_start,resolution,kind,name,labels,unit,count,sum,min,max,avg,"
        "p50,p95,p99\r\n"
    )
    assert tuple(text.strip().split(",")) == COLUMNS


def test_rows_use_crlf_iso_times_and_integer_counts(store):
    seed(
        store,
        [
            sample(NOW - 30, "http", "public.index", v, "method=GET;status=2xx")
            for v in (10.0, 20.0, 45.5)
        ],
    )

    text = export(store, {"range": "1h"})

    lines = text.split("\r\n")
    assert lines[-1] == ""
    assert "\n" not in "".join(lines)
    assert lines[1].startswith(
        "2023-11-14T22:12:00Z,minute,http,public.index,method=GET;status=2xx,ms,"
        "3,75.5,10,45.5,25.166667,"
    )
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["count"] == "3"
    assert abs(float(row["p50"]) - 20) <= 0.2
    assert float(row["min"]) <= float(row["p99"]) <= float(row["max"])


@pytest.mark.parametrize(
    "name",
    [
        '=HYPERLINK("http://example.invalid","x")',
        "+1+2",
        "-2+3",
        "@SUM(A1:A2)",
        "\tSELECT 1",
        "\rSELECT 1",
    ],
)
def test_formula_starters_are_neutralized(store, name):
    seed(store, [sample(NOW - 30, "db", name, 1.0, "op=SELECT")])

    row = next(csv.DictReader(io.StringIO(export(store, {"range": "1h"}))))

    assert row["name"] == "'" + name


@pytest.mark.parametrize(
    "name",
    [
        'SELECT "title", body FROM notes',
        "SELECT a,\nb FROM notes WHERE x = ?",
        "naïve café ✓",
        "plain",
        "'already quoted",
    ],
)
def test_awkward_names_round_trip(store, name):
    seed(store, [sample(NOW - 30, "db", name, 1.0, "op=SELECT")])

    rows = list(csv.DictReader(io.StringIO(export(store, {"range": "1h"}))))

    assert [row["name"] for row in rows] == [name]
    assert list(rows[0]) == list(COLUMNS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1", "'=1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@a", "'@a"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        ("", ""),
    ],
)
def test_neutralize(text, expected):
    assert neutralize(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (3.0, "3"),
        (0.0, "0"),
        (12.5, "12.5"),
        (1 / 3, "0.333333"),
        (1e-9, "0"),
        (123456789012.0, "123456789012"),
    ],
)
def test_format_number(value, expected):
    assert format_number(value) == expected


def test_every_point_appears_once_in_bucket_order(store):
    seed_site(store)
    query = parse_query({"range": "24h", "resolution": "minute"}, NOW)
    with store.reading() as conn:
        expected = list(iter_points(conn, query))

    rows = list(
        csv.DictReader(
            io.StringIO(export(store, {"range": "24h", "resolution": "minute"}))
        )
    )

    assert len(rows) == len(expected) > 1000
    assert [r["bucket_start"] for r in rows] == sorted(r["bucket_start"] for r in rows)
    assert {r["kind"] for r in rows} == {"http", "db", "render", "process"}
    assert {r["unit"] for r in rows} == {"ms", "bytes", "percent"}


def test_output_comes_in_bounded_chunks(store):
    seed_site(store)
    query = parse_query({"range": "24h", "resolution": "minute"}, NOW)
    done = []

    with store.reading() as conn:
        chunks = list(
            iter_csv(
                iter_points(conn, query),
                "minute",
                chunk_chars=4096,
                progress=done.append,
            )
        )

    assert len(chunks) > 10
    assert max(len(c) for c in chunks) < 4096 + 1024
    assert done == sorted(done) and done[-1] == len("".join(chunks).split("\r\n")) - 2


def test_export_reads_through_a_separate_read_only_connection(store):
    seed_site(store)
    query = parse_query({"range": "1h", "kind": "render"}, NOW)

    conn = open_reader(store.path)
    try:
        text = "".join(iter_csv(iter_points(conn, query), "minute"))
        with pytest.raises(Exception, match="readonly"):
            conn.execute("DELETE FROM series")
    finally:
        conn.close()

    assert text.count("\r\n") > 50


def test_csv_row_values_match_the_point():
    series = SeriesInfo(1, "process", "rss_bytes", "pid=7", "bytes")
    point = Point(NOW - NOW % 60, 2, 250e6, 120e6, 130e6, 120e6, 130e6, 130e6)

    text = "".join(iter_csv([(series, point)], "minute"))

    row = next(csv.DictReader(io.StringIO(text)))
    assert row == {
        "bucket_start": "2023-11-14T22:13:00Z",
        "resolution": "minute",
        "kind": "process",
        "name": "rss_bytes",
        "labels": "pid=7",
        "unit": "bytes",
        "count": "2",
        "sum": "250000000",
        "min": "120000000",
        "max": "130000000",
        "avg": "125000000",
        "p50": "120000000",
        "p95": "130000000",
        "p99": "130000000",
    }


def test_export_filename_names_the_range():
    assert (
        export_filename(NOW - 3600, NOW)
        == "starpunk-metrics-20231114T211320Z-20231114T221320Z.csv"
    )


@pytest.mark.slow
def test_export_memory_stays_flat():
    output = subprocess.run(
        [sys.executable, "-m", "bench.export_memory", "1000", "200000"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    report = json.loads(output.strip().splitlines()[-1])

    # The streaming writer alone, and the whole ``starpunk metrics export``.
    assert set(report) == {"writer", "command"}
    for small, large in report.values():
        assert large["rows"] == 200_000 and small["rows"] == 1000
        assert large["bytes"] > 20_000_000
        assert large["peak_rss_kib"] - small["peak_rss_kib"] < 6 * 1024
