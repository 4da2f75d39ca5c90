"""Peak memory of a CSV export at different row counts.

Seeds a metrics database with the given number of minute rows, then runs
the export in a fresh subprocess per size and reports that process's peak
resident memory, so the seeding itself is never measured. Two exports are
measured: the streaming writer on its own, and the whole
``starpunk metrics export`` command (app start-up included) writing a file.
Run from the repository root::

    python -m bench.export_memory            # 1,000 and 1,000,000 rows
    python -m bench.export_memory 1000 200000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from metrics_store.csv_writer import iter_csv
from metrics_store.queries import iter_points, open_reader
from metrics_store.ranges import MetricsQuery, TimeRange
from metrics_store.sketch import QuantileSketch
from metrics_store.store import MetricsStore
from metrics_store.timebuckets import iso_utc

SERIES = 100
START = 1_700_000_000 - 1_700_000_000 % 60


def seed_rows(path: Path, rows: int) -> TimeRange:
    """Write ``rows`` minute rows over :data:`SERIES` series; return their range."""
    store = MetricsStore(path)
    series = min(SERIES, rows)
    minutes = -(-rows // series)
    blobs = [
        QuantileSketch.of([1.0 + i, 2.5 * i + 1, 40.0 + i]).to_bytes() for i in range(7)
    ]
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO series (id, kind, name, labels, unit, created) "
            "VALUES (?, 'db', ?, 'op=SELECT', 'ms', 0)",
            ((i + 1, f"SELECT * FROM t{i} WHERE id = ?") for i in range(series)),
        )
        conn.executemany(
            "INSERT INTO rollup_minute "
            "(bucket, series_id, count, sum, min, max, sketch) "
            "VALUES (?, ?, 3, 60.0, 1.0, 40.0, ?)",
            (
                (START + (n // series) * 60, n % series + 1, blobs[n % 7])
                for n in range(rows)
            ),
        )
    store.close()
    return TimeRange(START, START + minutes * 60, "minute")


def measure_export(path: Path, start: int, end: int) -> dict:
    """Export the range to nowhere; return rows, bytes, seconds and peak RSS."""
    query = MetricsQuery(TimeRange(start, end, "minute"))
    began = time.perf_counter()
    written = 0
    rows = 0

    def count(done: int) -> None:
        nonlocal rows
        rows = done

    with contextlib.closing(open_reader(path)) as conn:
        for chunk in iter_csv(iter_points(conn, query), "minute", progress=count):
            written += len(chunk)
    return {
        "rows": rows,
        "bytes": written,
        "seconds": round(time.perf_counter() - began, 2),
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def measure_cli(path: Path, start: int, end: int) -> dict:
    """Run ``starpunk metrics export`` in this process; report rows and peak RSS."""
    import os

    from starpunk.cli import cli

    folder = Path(tempfile.mkdtemp(prefix="starpunk-export-"))
    os.environ["STARPUNK_DATA_PATH"] = str(folder)
    os.environ["STARPUNK_METRICS_DB"] = str(path)
    # The seeded minutes are years old: keep them readable at minute resolution.
    os.environ["STARPUNK_METRICS_RETAIN_MINUTE_DAYS"] = "3650"
    os.environ["STARPUNK_METRICS_RETAIN_HOUR_DAYS"] = "3650"
    output = folder / "export.csv"
    began = time.perf_counter()
    cli.main(
        [
            "metrics",
            "export",
            "--from",
            iso_utc(start),
            "--to",
            iso_utc(end),
            "--resolution",
            "minute",
            "--output",
            str(output),
        ],
        prog_name="starpunk",
        standalone_mode=False,
    )
    seconds = time.perf_counter() - began
    with open(output, "rb") as handle:
        rows = sum(1 for _ in handle) - 1
    return {
        "rows": rows,
        "bytes": output.stat().st_size,
        "seconds": round(seconds, 2),
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def run(sizes: list[int], mode: str = "--measure") -> list[dict]:
    """Seed and measure each size in its own subprocess."""
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = Path(folder) / f"metrics-{size}.db"
            time_range = seed_rows(path, size)
            output = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.export_memory",
                    mode,
                    str(path),
                    str(time_range.start),
                    str(time_range.end),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results.append(json.loads(output))
    return results


def main(argv: list[str] | None = None) -> None:
    """Print peak memory per export size and the difference to the smallest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 1_000_000])
    parser.add_argument("--measure", nargs=3, metavar=("DB", "START", "END"))
    parser.add_argument("--measure-cli", nargs=3, metavar=("DB", "START", "END"))
    args = parser.parse_args(argv)
    for given, measure in (
        (args.measure, measure_export),
        (args.measure_cli, measure_cli),
    ):
        if given:
            path, start, end = given
            print(json.dumps(measure(Path(path), int(start), int(end))))
            return
    report = {}
    for label, mode in (("writer", "--measure"), ("command", "--measure-cli")):
        results = run(args.sizes, mode)
        baseline = results[0]["peak_rss_kib"]
        for result in results:
            extra = (result["peak_rss_kib"] - baseline) / 1024
            print(
                f"{label:<8}{result['rows']:>10,} rows  "
                f"{result['bytes'] / 1e6:8.1f} MB of CSV  "
                f"{result['seconds']:7.2f} s  "
                f"peak RSS {result['peak_rss_kib'] / 1024:6.1f} MiB  "
                f"({extra:+.1f} MiB)"
            )
        report[label] = results
    print(json.dumps(report))


if __name__ == "__main__":
    main()
