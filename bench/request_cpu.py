"""Request overhead in CPU time per request, in process, by direct WSGI calls.

Each variant runs in a fresh process: build the site, warm every path up,
then time batches of requests with ``time.process_time`` (all threads of
the process, so work a peer pushes to background threads counts). Batches of
the three paths alternate inside the process; the figure per path is the
median batch. StarPunk's variant flushes its buffer to the metrics database
every ``flush_every`` requests inside the timed loop, so the flush's cost is
counted too, spread over the requests it carries. Threads a peer starts per
request are waited for before a batch's clock stops.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
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
from bench.sites import VARIANT_LABELS, VARIANTS, available_sites, site_paths
from bench.wsgi_calls import caller

MODULE = "bench.request_cpu"
THREAD_WAIT_SECONDS = 60.0


def wait_for_threads() -> None:
    """Wait (bounded) until every non-daemon thread but this one has ended.

    A peer that writes each request from a thread of its own has done that
    request's work only when the thread ends; schedulers run as daemons.
    """
    deadline = time.monotonic() + THREAD_WAIT_SECONDS
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


def measure(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: median CPU and wall microseconds per request for every path."""
    from bench.sites import build_app, prepare_data

    site, variant = params["site"], params["variant"]
    paths = site_paths(site)
    # Removed at exit, after the peers' own exit hooks (which still write).
    folder = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    atexit.register(shutil.rmtree, folder, True)
    prepare_data(site, folder)
    app = build_app(site, variant, folder, scheduler=False)
    monitoring = app.extensions.get("starpunk.monitoring")
    flush = monitoring.flush if monitoring and monitoring.enabled else None
    calls = {kind: caller(app, path) for kind, path in paths.items()}
    for kind, call in calls.items():
        status = call()
        if not status.startswith("200"):
            raise RuntimeError(f"{site} {variant} {paths[kind]} answered {status}")
        for _ in range(params["warmup"]):
            call()
    wait_for_threads()
    if flush is not None:
        flush()
    since_flush = 0
    cpu: dict[str, list[float]] = {kind: [] for kind in calls}
    wall: dict[str, list[float]] = {kind: [] for kind in calls}
    # The slowest peer gets fewer calls; its per-call figure stays valid.
    size = params["calls"] // (4 if variant == "fmd" else 1)
    flush_every = params["flush_every"]
    for _ in range(params["batches"]):
        for kind, call in calls.items():
            cpu_began = time.process_time()
            wall_began = time.perf_counter()
            for _ in range(size):
                call()
                since_flush += 1
                if flush is not None and since_flush >= flush_every:
                    flush()
                    since_flush = 0
            wait_for_threads()
            cpu[kind].append((time.process_time() - cpu_began) / size * 1e6)
            wall[kind].append((time.perf_counter() - wall_began) / size * 1e6)
    return {
        "cpu_us": {kind: median(values) for kind, values in cpu.items()},
        "wall_us": {kind: median(values) for kind, values in wall.items()},
    }


PAIRS = {
    "paired: StarPunk monitoring vs off": ("off", "starpunk"),
    "paired: off vs off (A/A control)": ("off", "off"),
}


def measure_pair(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: two apps in one process, batches alternating A B B A, per path.

    Both apps serve the same data folder. StarPunk's SQL timing is chosen
    per connection by the process-wide recorder, so before each batch the
    recorder is set to the batch's app (none for the unmonitored one);
    connections are opened per request, so every batch is timed by its own
    app only. Alternating batches a fraction of a second apart cancels the
    drift of a shared machine that separate processes cannot.
    """
    from bench.sites import build_app, prepare_data
    from starpunk.monitoring.sql_timing import set_recorder

    site = params["site"]
    paths = site_paths(site)
    folder = Path(tempfile.mkdtemp(prefix="bench-pair-"))
    atexit.register(shutil.rmtree, folder, True)
    prepare_data(site, folder)
    sides = []
    for variant in params["pair"]:
        app = build_app(site, variant, folder, scheduler=False)
        monitoring = app.extensions.get("starpunk.monitoring")
        enabled = monitoring is not None and monitoring.enabled
        sides.append(
            {
                "recorder": monitoring.recorder if enabled else None,
                "flush": monitoring.flush if enabled else None,
                "calls": {kind: caller(app, path) for kind, path in paths.items()},
                "since_flush": 0,
            }
        )
    for side in sides:
        set_recorder(side["recorder"])
        for kind, call in side["calls"].items():
            status = call()
            if not status.startswith("200"):
                raise RuntimeError(f"{site} {paths[kind]} answered {status}")
            for _ in range(params["warmup"]):
                call()
        if side["flush"] is not None:
            side["flush"]()
    size, flush_every = params["calls"], params["flush_every"]
    cpu = [{kind: [] for kind in paths} for _ in sides]
    for _ in range(params["batches"]):
        for kind in paths:
            for index in (0, 1, 1, 0):
                side = sides[index]
                set_recorder(side["recorder"])
                call, flush = side["calls"][kind], side["flush"]
                began = time.process_time()
                for _ in range(size):
                    call()
                    side["since_flush"] += 1
                    if flush is not None and side["since_flush"] >= flush_every:
                        flush()
                        side["since_flush"] = 0
                cpu[index][kind].append((time.process_time() - began) / size * 1e6)
    return {
        "cpu_us": [{k: median(v) for k, v in side.items()} for side in cpu],
        "ratio": {
            kind: median(b / a for a, b in zip(cpu[0][kind], cpu[1][kind], strict=True))
            for kind in paths
        },
    }


def _worker(params: dict[str, Any]) -> dict[str, Any]:
    return measure_pair(params) if "pair" in params else measure(params)


def run_pairs(site: str, rounds: int, params: dict, progress) -> dict[str, Any]:
    """Paired same-process comparisons, one fresh process per pair and round."""
    variants = {
        name: {"site": site, "pair": list(pair), **params}
        for name, pair in PAIRS.items()
    }
    runs = run_interleaved(MODULE, variants, rounds, progress)
    return {
        name: {
            kind: {
                "ratio": median(r["ratio"][kind] for r in results),
                "a_cpu_us": median(r["cpu_us"][0][kind] for r in results),
                "b_cpu_us": median(r["cpu_us"][1][kind] for r in results),
                "ratios": [r["ratio"][kind] for r in results],
            }
            for kind in site_paths(site)
        }
        for name, results in runs.items()
    }


def run(quick: bool = False, progress=say, sites: list[str] | None = None) -> dict:
    """Measure every variant on every available site; return medians and ratios."""
    rounds = 1 if quick else 5
    params = {
        "calls": 100 if quick else 300,
        "batches": 2 if quick else 4,
        "warmup": 50 if quick else 200,
        "flush_every": 1000,
    }
    results, pairs = {}, {}
    for site in sites or available_sites():
        variants = {
            variant: {"site": site, "variant": variant, **params}
            for variant in VARIANTS
        }
        runs = run_interleaved(MODULE, variants, rounds, progress)
        paths = site_paths(site)
        per_path = {}
        for kind in paths:
            per_path[kind] = {
                "path": paths[kind],
                "cpu_us": {
                    v: median(r["cpu_us"][kind] for r in runs[v]) for v in VARIANTS
                },
                "wall_us": {
                    v: median(r["wall_us"][kind] for r in runs[v]) for v in VARIANTS
                },
                "ratio": {
                    v: median(
                        r["cpu_us"][kind] / base["cpu_us"][kind]
                        for r, base in zip(runs[v], runs["off"], strict=True)
                    )
                    for v in VARIANTS
                },
            }
        results[site] = per_path
        pair_params = dict(params, calls=params["calls"] * 2 // 3)
        pairs[site] = run_pairs(site, 1 if quick else 7, pair_params, progress)
    return {"rounds": rounds, **params, "sites": results, "pairs": pairs}


def report(result: dict[str, Any]) -> str:
    """One markdown table per site: CPU us per request and ratio to 'off'."""
    tables = []
    for site, per_path in result["sites"].items():
        rows = []
        for kind, cell in per_path.items():
            for variant in VARIANTS:
                rows.append(
                    (
                        f"{kind} `{cell['path']}`",
                        VARIANT_LABELS[variant],
                        f"{cell['cpu_us'][variant]:.1f}",
                        f"{cell['ratio'][variant]:.3f}",
                        f"{cell['cpu_us'][variant] - cell['cpu_us']['off']:+.1f}",
                    )
                )
        tables.append(
            f"site: {site}\n\n"
            + markdown_table(
                ["path", "variant", "CPU us/request", "ratio to off", "added us"],
                rows,
            )
        )
    for site, by_pair in result.get("pairs", {}).items():
        rows = [
            (
                name,
                f"{kind} `{site_paths(site)[kind]}`",
                f"{cell['a_cpu_us']:.1f}",
                f"{cell['b_cpu_us']:.1f}",
                f"{cell['ratio']:.4f}",
                f"{min(cell['ratios']):.3f} to {max(cell['ratios']):.3f}",
            )
            for name, per_path in by_pair.items()
            for kind, cell in per_path.items()
        ]
        tables.append(
            f"site: {site}, paired in one process (batches A B B A)\n\n"
            + markdown_table(
                ["pair", "path", "A us", "B us", "B/A median", "B/A range"], rows
            )
        )
    return "\n\n".join(tables)


def main() -> None:
    command_line(__doc__, run, report, sites=True)


if __name__ == "__main__":
    if not worker_main(_worker):
        main()
