"""Dashboard and JSON latency for every range preset over a full-retention store.

The store holds 200 series at full retention (minute rows for 7 days, hour
rows for 400 days; see :mod:`bench.seed_history`), seeded once and cached
under ``bench/results/cache``. Each round is a fresh process (cold Python
caches, warm OS page cache) that times, per range:

* the HTML dashboard ``/admin/metrics-dashboard`` and the JSON
  ``/admin/metrics`` through Flask's test client, auth satisfied by
  pass-through guards, with the clock frozen at the seeded "now";
* the functions behind them, called directly: ``build_overview`` (the
  dashboard's panels) and ``query_series`` (the JSON's series).

The first call of a range is reported apart from the median of the repeats.
"""

from __future__ import annotations

import functools
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS_DIR,
    command_line,
    markdown_table,
    median,
    run_interleaved,
    say,
    worker_main,
)

MODULE = "bench.queries"
RANGES = ("1h", "6h", "24h", "7d", "30d", "90d")
CACHE = RESULTS_DIR / "cache"
FULL_STORE = {"series": 200, "minute_days": 7, "hour_days": 400}
QUICK_STORE = {"series": 20, "minute_days": 1, "hour_days": 14}


def _pass_through(view):
    """An auth guard that lets every request in: the benchmark is the admin."""
    return view


def build_dashboard_app(db_path: Path):
    """A Flask app with StarPunk's monitoring over ``db_path`` and its dashboard."""
    from flask import Flask

    from starpunk.monitoring import Monitoring
    from starpunk.monitoring.dashboard import register_dashboard

    app = Flask("bench_dashboard")
    app.config.update(
        SECRET_KEY="bench",
        METRICS_DB=str(db_path),
        METRICS_ENABLED=True,
        METRICS_SCHEDULER=False,
    )
    Monitoring(app)
    register_dashboard(app, _pass_through, _pass_through)
    return app


def measure(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: first-call and median milliseconds per range and consumer."""
    import freezegun
    from freezegun.api import real_perf_counter

    from metrics_store.queries import query_series
    from metrics_store.ranges import parse_query
    from starpunk.monitoring.panels import build_overview

    path, end = Path(params["path"]), params["end"]
    now = end - 1
    app = build_dashboard_app(path)
    store = app.extensions["starpunk.monitoring"].store
    client = app.test_client()
    repeat = params["repeat"]

    def timed(call, clock=real_perf_counter) -> tuple[float, float, Any]:
        began = clock()
        result = call()
        first = (clock() - began) * 1000.0
        times = []
        for _ in range(repeat):
            began = clock()
            call()
            times.append((clock() - began) * 1000.0)
        return first, median(times), result

    def get(url: str):
        with freezegun.freeze_time(datetime.fromtimestamp(now, UTC)):
            answer = client.get(url)
            answer.close()
        return answer.status_code, len(answer.data)

    def direct(function, query_range: str, **filters):
        query = parse_query({"range": query_range, **filters}, now)
        with store.reading() as conn:
            result = function(conn, query)
        return len(result) if isinstance(result, list) else None

    results: dict[str, dict[str, Any]] = {}
    for query_range in params["ranges"]:
        cells = {}
        for label, call in (
            ("build_overview", functools.partial(direct, build_overview, query_range)),
            ("query_series", functools.partial(direct, query_series, query_range)),
            (
                "query_series kind=http",
                functools.partial(direct, query_series, query_range, kind="http"),
            ),
            (
                "GET /admin/metrics-dashboard",
                functools.partial(get, f"/admin/metrics-dashboard?range={query_range}"),
            ),
            (
                "GET /admin/metrics",
                functools.partial(get, f"/admin/metrics?range={query_range}"),
            ),
            (
                "GET /admin/metrics kind=http",
                functools.partial(get, f"/admin/metrics?range={query_range}&kind=http"),
            ),
        ):
            first, typical, outcome = timed(call)
            cells[label] = {"first_ms": first, "median_ms": typical, "outcome": outcome}
        results[query_range] = cells
    return {"ranges": results}


def run(quick: bool = False, progress=say) -> dict[str, Any]:
    """Seed (or reuse) the store, then time every range in fresh processes."""
    from bench.seed_history import cached_seed

    store_params = QUICK_STORE if quick else FULL_STORE
    cache = CACHE
    if quick:
        cache = Path(tempfile.mkdtemp(prefix="bench-queries-"))
    progress(f"seeding or reusing a store with {store_params}")
    path, info = cached_seed(cache, **store_params)
    progress(f"store ready: {info}")
    rounds = 1 if quick else 2
    params = {
        "path": str(path),
        "end": info["end"],
        "ranges": list(RANGES),
        "repeat": 2 if quick else 3,
    }
    runs = run_interleaved(MODULE, {"all ranges": params}, rounds, progress)[
        "all ranges"
    ]
    table: dict[str, dict[str, Any]] = {}
    for query_range in RANGES:
        table[query_range] = {}
        for label in runs[0]["ranges"][query_range]:
            cells = [r["ranges"][query_range][label] for r in runs]
            table[query_range][label] = {
                "first_ms": median(c["first_ms"] for c in cells),
                "median_ms": median(c["median_ms"] for c in cells),
                "outcome": cells[0]["outcome"],
            }
    return {"rounds": rounds, "store": info, "ranges": table}


def report(result: dict[str, Any]) -> str:
    """Markdown table: one row per consumer and range."""
    store = result["store"]
    header = (
        f"store: {store['series']} series, {store['minute_rows']:,} minute rows "
        f"({store['minute_days']} days), {store['hour_rows']:,} hour rows "
        f"({store['hour_days']} days), {store['bytes'] / 1e6:,.0f} MB\n\n"
    )
    rows = []
    labels = list(next(iter(result["ranges"].values())))
    for label in labels:
        for query_range, cells in result["ranges"].items():
            cell = cells[label]
            rows.append(
                (
                    label,
                    query_range,
                    f"{cell['median_ms']:,.0f}",
                    f"{cell['first_ms']:,.0f}",
                    describe(cell["outcome"]),
                )
            )
    return header + markdown_table(
        ["consumer", "range", "median ms", "first call ms", "answer"], rows
    )


def describe(outcome: Any) -> str:
    """Short text for what a call returned: HTTP status and size, or a count."""
    if isinstance(outcome, list | tuple) and len(outcome) == 2:
        status, size = outcome
        return f"HTTP {status}, {size / 1024:,.0f} KiB"
    if isinstance(outcome, int):
        return f"{outcome} series"
    return ""


def main() -> None:
    command_line(__doc__, run, report)


if __name__ == "__main__":
    if not worker_main(measure):
        main()
