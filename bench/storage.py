"""Storage: database bytes after the same simulated traffic at 1x and 10x.

Real requests go through the demo site in process (direct WSGI calls), in
a fixed mix (index 5, note 4, health 1), over a number of simulated hours.
Simulated time advances by the flush interval (10 s) between flushes: the
flusher's wall-clock offset is set so that each flush stamps its samples at
the simulated instant, so six flushes fill each minute and the hour rollup
runs at the end of each simulated hour, as the scheduler would. For
Flask-MonitoringDashboard the same requests are made (its own per-request
rows need no simulated clock to take their size).

Growth is the size after the traffic minus the size of the same database
with no traffic (schema, series of nothing), after a WAL checkpoint.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import command_line, markdown_table, say, spawn_worker, worker_main

MODULE = "bench.storage"
FLUSH_SECONDS = 10.0
BASE_RATE = 20.0  # requests per minute at 1x: a small personal site
MIX = (
    "page",
    "note",
    "page",
    "note",
    "page",
    "note",
    "page",
    "note",
    "page",
    "trivial",
)


def file_bytes(path: Path) -> int:
    """Size of an SQLite file plus its WAL, if any."""
    total = 0
    for suffix in ("", "-wal", "-journal"):
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            total += candidate.stat().st_size
    return total


def checkpoint(path: Path) -> None:
    """Fold the WAL back into the main file so its size is what stays."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def measure(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: drive the traffic through one variant; return database sizes."""
    from bench.demo_app import NOTE_COUNT, note_slug
    from bench.request_cpu import wait_for_threads
    from bench.sites import build_app, prepare_data
    from bench.wsgi_calls import caller

    variant = params["variant"]
    folder = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    atexit.register(shutil.rmtree, folder, True)
    prepare_data("demo", folder)
    app = build_app("demo", variant, folder, scheduler=False)
    db_path = folder / ("metrics.db" if variant == "starpunk" else "dashboard.db")
    monitoring = app.extensions.get("starpunk.monitoring")
    if variant == "starpunk":
        monitoring.store.connection()  # create the empty database now
    fixed = {
        "page": caller(app, "/"),
        "trivial": caller(app, "/health"),
    }
    notes = [caller(app, f"/notes/{note_slug(i)}") for i in range(NOTE_COUNT)]
    checkpoint(db_path)
    empty = file_bytes(db_path)

    per_flush = params["rate"] / 60.0 * FLUSH_SECONDS
    flushes = int(params["hours"] * 3600 / FLUSH_SECONDS)
    sim_start = (int(time.time()) // 3600 - 24) * 3600.0
    owed = 0.0
    made = 0
    began = time.perf_counter()
    for number in range(flushes):
        owed += per_flush
        while owed >= 1.0:
            kind = MIX[made % len(MIX)]
            call = notes[made % NOTE_COUNT] if kind == "note" else fixed[kind]
            call()
            made += 1
            owed -= 1.0
        if monitoring is not None and monitoring.enabled:
            sim_now = sim_start + (number + 1) * FLUSH_SECONDS
            offset = sim_now - time.perf_counter()
            monitoring.flusher.wall_offset = lambda offset=offset: offset
            if not monitoring.flush():
                raise RuntimeError(f"flush failed: {monitoring.flusher.last_error}")
            if (number + 1) % int(3600 / FLUSH_SECONDS) == 0:
                monitoring.store.rollup_hours()
    if monitoring is not None and monitoring.enabled:
        monitoring.store.rollup_hours()
        monitoring.store.close()
    wait_for_threads()
    elapsed = time.perf_counter() - began
    checkpoint(db_path)
    size = file_bytes(db_path)
    return {
        "variant": variant,
        "rate": params["rate"],
        "hours": params["hours"],
        "requests": made,
        "empty_bytes": empty,
        "bytes": size,
        "growth_bytes": size - empty,
        "rows": count_rows(db_path, variant),
        "seconds": elapsed,
    }


def count_rows(path: Path, variant: str) -> dict[str, int]:
    """Rows in the tables that grow with traffic."""
    tables = (
        ("series", "rollup_minute", "rollup_hour", "events")
        if variant == "starpunk"
        else ("Request",)
    )
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in tables
        }
    finally:
        conn.close()


def run(quick: bool = False, progress=say) -> dict[str, Any]:
    """Both variants at 1x and 10x the base rate, each in its own process."""
    hours = 0.25 if quick else 3.0
    results = []
    for variant in ("starpunk", "fmd"):
        for multiple in (1, 10):
            progress(f"storage {variant} at {multiple}x for {hours} simulated hours")
            results.append(
                spawn_worker(
                    MODULE,
                    {"variant": variant, "rate": BASE_RATE * multiple, "hours": hours},
                )
                | {"multiple": multiple}
            )
    by_key = {(r["variant"], r["multiple"]): r for r in results}
    ratios = {
        variant: by_key[(variant, 10)]["growth_bytes"]
        / by_key[(variant, 1)]["growth_bytes"]
        for variant in ("starpunk", "fmd")
    }
    return {
        "hours": hours,
        "base_rate_per_minute": BASE_RATE,
        "runs": results,
        "growth_ratio_10x_to_1x": ratios,
    }


def report(result: dict[str, Any]) -> str:
    """Markdown table of sizes and growth."""
    rows = []
    for run_result in result["runs"]:
        growth = run_result["growth_bytes"]
        rows.append(
            (
                run_result["variant"],
                f"{run_result['multiple']}x ({run_result['rate']:g}/min)",
                f"{run_result['requests']:,}",
                f"{run_result['bytes'] / 1024:,.0f}",
                f"{growth / 1024:,.0f}",
                f"{growth / run_result['requests']:,.1f}",
                ", ".join(f"{k} {v:,}" for k, v in run_result["rows"].items()),
            )
        )
    ratios = result["growth_ratio_10x_to_1x"]
    return (
        markdown_table(
            [
                "variant",
                "traffic",
                "requests",
                "file KiB",
                "growth KiB",
                "bytes/request",
                "rows",
            ],
            rows,
        )
        + "\n\ngrowth at 10x / growth at 1x: "
        + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
    )


def main() -> None:
    command_line(__doc__, run, report)


if __name__ == "__main__":
    if not worker_main(measure):
        main()
