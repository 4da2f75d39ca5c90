"""Dashboard and JSON query latency over a store with 200 busy series.

Seeds 200 series (30 http, 150 db, 12 render, 8 process gauges), every one
active every minute for 7 days of minute rollups and 90 days of hour
rollups, with the newest hour left for the hour rollup (dirty), then times
each dashboard range. Rows are written into a database at the first schema
version and then upgraded, so the later migrations derive what they add
(per-kind totals, day rollups) from those rows, as they would on a live site.

Every series having data every minute is the worst case; ``--density 0.1``
models a quieter site where a series shows up in one minute out of ten.
Run from the repository root::

    python -m bench.dashboard_queries [--db PATH] [--repeat 3] [--density 1]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from metrics_store.queries import query_series
from metrics_store.ranges import PRESETS, MetricsQuery, parse_query
from metrics_store.sketch import QuantileSketch
from metrics_store.store import MetricsStore, default_migrations_dir, unit_for
from metrics_store.timebuckets import DAY, HOUR, MINUTE, floor_to
from starpunk.monitoring.panels import build_overview

NOW = 1_700_000_000


def series_keys() -> list[tuple[str, str, str]]:
    """The 200 benchmark series as ``(kind, name, labels)``."""
    keys = []
    for endpoint in range(10):
        for labels in ("method=GET;status=2xx", "method=GET;status=4xx"):
            keys.append(("http", f"public.view_{endpoint}", labels))
        keys.append(("http", f"public.view_{endpoint}", "method=POST;status=5xx"))
    for statement in range(150):
        keys.append(("db", f"SELECT * FROM t{statement} WHERE id = ?", "op=SELECT"))
    for template in range(12):
        keys.append(("render", f"page_{template}.html", ""))
    for pid in (101, 102):
        for gauge in ("rss_bytes", "cpu_percent", "threads", "open_fds"):
            keys.append(("process", gauge, f"pid={pid}"))
    return keys


def seed(path: Path, density: float = 1.0) -> None:
    """Fill ``path`` with rollups; ``density`` is the share of buckets per series."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as folder:
        first = Path(folder)
        shutil.copy(default_migrations_dir() / "0001_initial.sql", first)
        _seed_rows(MetricsStore(path, migrations_dir=first), rng, density)
    upgraded = MetricsStore(path)
    upgraded.rollup_days()
    upgraded.close()


def _seed_rows(store: MetricsStore, rng: random.Random, density: float) -> None:
    blobs = [
        QuantileSketch.of(
            rng.lognormvariate(2, 0.8) for _ in range(rng.randint(5, 60))
        ).to_bytes()
        for _ in range(64)
    ]
    keys = series_keys()
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO series (id, kind, name, labels, unit, created) "
            "VALUES (?, ?, ?, ?, ?, 0)",
            [
                (i + 1, kind, name, labels, unit_for(kind, name))
                for i, (kind, name, labels) in enumerate(keys)
            ],
        )
    last_minute = floor_to(NOW, MINUTE)
    _insert(
        store,
        "rollup_minute",
        range(last_minute - 7 * DAY + MINUTE, last_minute + MINUTE, MINUTE),
        len(keys),
        blobs,
        per_bucket=20.0,
        density=density,
    )
    last_hour = floor_to(NOW, HOUR)
    _insert(
        store,
        "rollup_hour",
        range(last_hour - 90 * DAY, last_hour, HOUR),
        len(keys),
        blobs,
        per_bucket=1200.0,
        density=min(1.0, density * 10),
    )
    with store.transaction() as conn:
        conn.execute("INSERT INTO dirty_hours (bucket) VALUES (?)", (last_hour,))
    store.close()


def _insert(store, table, buckets, series, blobs, per_bucket, density) -> None:
    keep = int(density * 1000)
    rows = (
        (
            bucket,
            sid,
            per_bucket,
            per_bucket * 9.0,
            0.5,
            400.0,
            blobs[(bucket + sid) % 64],
        )
        for bucket in buckets
        for sid in range(1, series + 1)
        if (bucket // 60 * 7919 + sid * 104729) % 1000 < keep
    )
    with store.transaction() as conn:
        conn.executemany(
            f"INSERT INTO {table} (bucket, series_id, count, sum, min, max, sketch) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def timed(action, repeat: int) -> float:
    """Median CPU time of ``action`` in milliseconds.

    CPU time rather than wall time, so other work on a shared machine does
    not inflate the numbers; the queries are CPU bound on a warm cache.
    """
    runs = []
    for _ in range(repeat):
        began = time.process_time()
        action()
        runs.append((time.process_time() - began) * 1000)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> None:
    """Print the median CPU time of the dashboard and JSON queries per range."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="reuse or create this database")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--density",
        type=float,
        default=1.0,
        help="share of minutes in which a series has data (hours: ten times it)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = args.db or Path(folder) / "metrics.db"
        if not path.exists():
            began = time.perf_counter()
            seed(path, args.density)
            print(f"seeded {path} in {time.perf_counter() - began:.1f} s")
        store = MetricsStore(path)
        header = ("range", "res", "dashboard", "json http", "json all")
        print("{:<6} {:<7} {:>10} {:>10} {:>9}".format(*header))
        with store.reading() as conn:
            for preset in PRESETS:
                query = parse_query({"range": preset}, NOW)
                http = MetricsQuery(query.time_range, "http")
                page = timed(lambda q=query: build_overview(conn, q), args.repeat)
                json_http = timed(lambda q=http: query_series(conn, q), args.repeat)
                json_all = timed(lambda q=query: query_series(conn, q), 1)
                print(
                    f"{preset:<6} {query.time_range.resolution:<7} {page:>8.0f} ms"
                    f" {json_http:>7.0f} ms {json_all:>6.0f} ms"
                )
        store.close()


if __name__ == "__main__":
    main()
