"""Flush: samples per second from the buffer into minute rollups on disk.

A flush is what ``Flusher.flush`` does every interval: drain the buffer,
turn raw samples into timed, weighted ones and fold them into
per-series-minute aggregates with sketches (``PendingBatch.add_raw``, which
feeds ``add_samples``) and upsert them in one transaction
(``MetricsStore.write_batch``) into a file database. Each flush carries one
ten-second window of samples, so six flushes in a row fill one minute: the
first inserts rows, the next five merge sketches into them, as in production.
Series counts and batch sizes vary to show the cost per sample stays flat as
batches grow. A second table compares the sketch's ``add`` with ``ddsketch``.
"""

from __future__ import annotations

import random
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from bench.common import (
    command_line,
    markdown_table,
    median,
    run_interleaved,
    say,
    worker_main,
)

MODULE = "bench.flush"
WINDOW_SECONDS = 10.0
FLUSHES_PER_MINUTE = 6


def series_keys(count: int) -> list[tuple[str, str, str]]:
    """A realistic mix of series: requests, statements, templates."""
    keys = []
    for index in range(count):
        kind = ("http", "db", "db", "render")[index % 4]
        if kind == "http":
            name, labels = f"public.page_{index}", "method=GET;status=2xx"
        elif kind == "db":
            name = f"SELECT id, slug, body FROM notes_{index} WHERE slug = ? LIMIT ?"
            labels = "op=SELECT"
        else:
            name, labels = f"page_{index}.html", ""
        keys.append((kind, name, labels))
    return keys


def window_samples(
    keys: list[tuple[str, str, str]], size: int, start: float, rng: random.Random
) -> list[tuple]:
    """``size`` raw sample tuples over one flush window starting at ``start``.

    Raw samples are what the sensors append: ``(end, kind, name, labels,
    value, error, detail)``; here ``end`` is already epoch time, so the
    flush runs with a wall offset of zero.
    """
    step = WINDOW_SECONDS / size
    samples = []
    for index in range(size):
        kind, name, labels = keys[index % len(keys)]
        value = rng.lognormvariate(1.0, 0.8)
        samples.append((start + index * step, kind, name, labels, value, False, None))
    return samples


def measure(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: time ``flushes`` flushes of ``batch`` samples over ``series`` series."""
    from metrics_store.aggregate import PendingBatch
    from metrics_store.buffer import SampleBuffer
    from metrics_store.store import MetricsStore, ProcessStatus
    from starpunk.monitoring.settings import METRICS_DEFAULTS

    rng = random.Random(1)
    keys = series_keys(params["series"])
    batch_size = params["batch"]
    flushes = params["flushes"]
    # Start on a minute boundary so every sixth flush opens a new minute.
    start = (int(time.time()) // 3600 - 1) * 3600.0
    windows = [
        window_samples(keys, batch_size, start + n * WINDOW_SECONDS, rng)
        for n in range(flushes + 1)
    ]
    rates = {"http": 1.0, "db": 1.0, "render": 1.0, "process": 1.0}
    slow = dict(METRICS_DEFAULTS["METRICS_SLOW_MS"])
    buffer = SampleBuffer(batch_size + 1)
    with tempfile.TemporaryDirectory(prefix="bench-flush-") as folder:
        store = MetricsStore(Path(folder) / "metrics.db")
        status = ProcessStatus(pid=1, started=start)
        timings = {"drain": 0.0, "add_raw": 0.0, "write_batch": 0.0}
        cpu = 0.0
        for number, window in enumerate(windows):
            for sample in window:
                buffer.append(sample)
            cpu_began = time.process_time()
            began = time.perf_counter()
            drained = buffer.drain()
            drained_at = time.perf_counter()
            batch = PendingBatch()
            batch.add_raw(drained, 0.0, rates, slow)
            added_at = time.perf_counter()
            store.write_batch(batch, status)
            written_at = time.perf_counter()
            if number == 0:
                continue  # the first flush also creates the series rows
            cpu += time.process_time() - cpu_began
            timings["drain"] += drained_at - began
            timings["add_raw"] += added_at - drained_at
            timings["write_batch"] += written_at - added_at
        store.close()
    samples = batch_size * flushes
    total = sum(timings.values())
    return {
        "samples_per_second": samples / total,
        "cpu_samples_per_second": samples / cpu if cpu else None,
        "ns_per_sample": {step: t / samples * 1e9 for step, t in timings.items()},
    }


SKETCH_SETUP = """
import random
from metrics_store.sketch import QuantileSketch, RELATIVE_ACCURACY
rng = random.Random(1)
values = [rng.lognormvariate(1.0, 0.8) for _ in range({count})]
"""
SKETCH_VARIANTS = {
    "empty loop": ("", "for v in values: pass"),
    "QuantileSketch.add": (
        "add = QuantileSketch().add",
        "for v in values: add(v)",
    ),
    "ddsketch DDSketch.add": (
        "from ddsketch import DDSketch\n"
        "add = DDSketch(relative_accuracy=RELATIVE_ACCURACY).add",
        "for v in values: add(v)",
    ),
    "QuantileSketch.merge (60 minute sketches)": (
        "parts = [QuantileSketch.of(values[i::60]) for i in range(60)]",
        "merged = QuantileSketch()\nfor p in parts: merged.merge(p)",
    ),
    "DDSketch.merge (60 minute sketches)": (
        "from ddsketch import DDSketch\n"
        "parts = [DDSketch(relative_accuracy=RELATIVE_ACCURACY) for _ in range(60)]\n"
        "for i, v in enumerate(values): parts[i % 60].add(v)",
        "merged = DDSketch(relative_accuracy=RELATIVE_ACCURACY)\n"
        "for p in parts: merged.merge(p)",
    ),
}


def measure_sketch(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: ns per value added (or per 60-way merge) for one sketch variant."""
    count = params["count"]
    setup_common = SKETCH_SETUP.format(count=count)

    def best(variant: str) -> float:
        setup, statement = SKETCH_VARIANTS[variant]
        timer = timeit.Timer(statement, setup_common + setup)
        return min(timer.repeat(repeat=params["repeat"], number=params["number"]))

    empty = best("empty loop") / params["number"] / count * 1e9
    seconds = best(params["variant"]) / params["number"]
    if "merge" in params["variant"]:
        return {"us_per_merge_of_60": seconds * 1e6}
    return {"ns_per_add": seconds / count * 1e9 - empty}


def _worker(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("sketch"):
        return measure_sketch(params)
    return measure(params)


def run(quick: bool = False, progress=say) -> dict[str, Any]:
    """Measure flush throughput over a grid of series and batch sizes."""
    series_counts = [10, 100] if quick else [10, 100, 1000]
    batch_sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    rounds = 1 if quick else 3
    variants = {}
    for series in series_counts:
        for batch in batch_sizes:
            flushes = max(3 if quick else 6, min(36, 600_000 // batch))
            if quick:
                flushes = 3
            variants[f"{series} series x {batch} samples"] = {
                "series": series,
                "batch": batch,
                "flushes": flushes,
            }
    runs = run_interleaved(MODULE, variants, rounds, progress)
    grid = []
    for name, params in variants.items():
        results = runs[name]
        grid.append(
            {
                "series": params["series"],
                "batch": params["batch"],
                "flushes": params["flushes"],
                "samples_per_second": median(r["samples_per_second"] for r in results),
                "cpu_samples_per_second": median(
                    r["cpu_samples_per_second"] for r in results
                ),
                "ns_per_sample": {
                    step: median(r["ns_per_sample"][step] for r in results)
                    for step in results[0]["ns_per_sample"]
                },
            }
        )
    sketch_count = 10_000 if quick else 100_000
    sketch_variants = {
        name: {
            "sketch": True,
            "variant": name,
            "count": sketch_count,
            "number": 1 if "add" in name else 5,
            "repeat": 3 if quick else 5,
        }
        for name in SKETCH_VARIANTS
        if name != "empty loop"
    }
    sketch_runs = run_interleaved(MODULE, sketch_variants, rounds, progress)
    sketches = {
        name: {key: median(r[key] for r in results) for key in results[0]}
        for name, results in sketch_runs.items()
    }
    return {"rounds": rounds, "grid": grid, "sketch": sketches}


def report(result: dict[str, Any]) -> str:
    """Markdown tables of a :func:`run` result."""
    rows = [
        (
            cell["series"],
            f"{cell['batch']:,}",
            cell["flushes"],
            f"{cell['samples_per_second']:,.0f}",
            f"{cell['cpu_samples_per_second']:,.0f}",
            f"{cell['ns_per_sample']['drain']:.0f}",
            f"{cell['ns_per_sample']['add_raw']:.0f}",
            f"{cell['ns_per_sample']['write_batch']:.0f}",
        )
        for cell in result["grid"]
    ]
    flush_table = markdown_table(
        [
            "series",
            "samples/flush",
            "flushes",
            "samples/s (wall)",
            "samples/s (CPU)",
            "drain ns/sample",
            "add_raw ns/sample",
            "write_batch ns/sample",
        ],
        rows,
    )
    sketch_rows = []
    for name, values in result["sketch"].items():
        if "ns_per_add" in values:
            sketch_rows.append((name, f"{values['ns_per_add']:.0f} ns per value"))
        else:
            sketch_rows.append(
                (name, f"{values['us_per_merge_of_60']:.0f} us per 60-way merge")
            )
    return flush_table + "\n\n" + markdown_table(["sketch", "cost"], sketch_rows)


def main() -> None:
    command_line(__doc__, run, report)


if __name__ == "__main__":
    if not worker_main(_worker):
        main()
