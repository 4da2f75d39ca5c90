"""Run every benchmark, print a report, and save the raw results as JSON.

``python -m bench.run_all`` (what ``make bench`` runs) takes a while: a full
run seeds a 200-series, full-retention metrics store once (cached under
``bench/results/cache``) and drives gunicorn with wrk. ``--quick`` is a
smoke run of a minute or two. ``--only`` picks benchmarks by name.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from bench import flush, hot_path, queries, request_cpu, request_throughput, storage
from bench.common import RESULTS_DIR, machine_info, markdown_table, say

BENCHMARKS: dict[str, tuple[Callable[..., dict], Callable[[dict], str], str]] = {
    "hot_path": (hot_path.run, hot_path.report, "Hot path: ns per recorded sample"),
    "flush": (flush.run, flush.report, "Flush: samples per second into rollups"),
    "request_cpu": (
        request_cpu.run,
        request_cpu.report,
        "Request overhead: CPU time per request, in process",
    ),
    "request_throughput": (
        request_throughput.run,
        request_throughput.report,
        "Request overhead: throughput under gunicorn + wrk",
    ),
    "queries": (queries.run, queries.report, "Queries: dashboard and JSON latency"),
    "storage": (storage.run, storage.report, "Storage: bytes at 1x and 10x traffic"),
}


def targets(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each target, where it stands, and whether it is met."""
    rows = []
    cpu = results.get("request_cpu")
    if cpu:
        for site, per_path in cpu["sites"].items():
            for kind in ("page", "note"):
                ratio = per_path[kind]["ratio"]["starpunk"]
                control = per_path[kind]["ratio"]["off_again"]
                rows.append(
                    (
                        f"{site} {kind} overhead <= 1% (CPU, in process)",
                        f"{ratio:.3f} (A/A control {control:.3f})",
                        _verdict(ratio <= 1.01),
                    )
                )
            trivial = per_path["trivial"]["ratio"]
            rows.append(
                (
                    f"{site} trivial endpoint below prometheus_flask_exporter",
                    f"{trivial['starpunk']:.3f} vs {trivial['prometheus']:.3f}",
                    _verdict(trivial["starpunk"] < trivial["prometheus"]),
                )
            )
    hot = results.get("hot_path")
    if hot:
        ns = hot["net_ns"]
        ours = ns[hot_path.RECORDER]
        prom = ns["prometheus child.observe (labels bound once)"]
        rows.append(
            (
                "hot path <= 3x the deque.append floor",
                f"{hot['ratio_to_tuple_floor'][hot_path.RECORDER]:.2f}x "
                "append(new tuple), "
                f"{hot['ratio_to_prebuilt_floor'][hot_path.RECORDER]:.1f}x bare append",
                _verdict(hot["ratio_to_tuple_floor"][hot_path.RECORDER] <= 3)
                + " vs tuple floor; "
                + _verdict(hot["ratio_to_prebuilt_floor"][hot_path.RECORDER] <= 3)
                + " vs bare append",
            )
        )
        rows.append(
            (
                "hot path faster than Histogram.observe",
                f"{ours:.0f} ns vs {prom:.0f} ns",
                _verdict(ours < prom),
            )
        )
    flushed = results.get("flush")
    if flushed:
        worst = min(flushed["grid"], key=lambda c: c["samples_per_second"])
        big = [c for c in flushed["grid"] if c["batch"] >= 10_000]
        worst_big = min(big or flushed["grid"], key=lambda c: c["samples_per_second"])
        rows.append(
            (
                "flush >= 200,000 samples/s on one core",
                f"{worst_big['samples_per_second']:,.0f}/s worst with >= 10k-sample "
                f"flushes; {worst['samples_per_second']:,.0f}/s worst overall "
                f"({worst['series']} series x {worst['batch']:,})",
                _verdict(worst_big["samples_per_second"] >= 200_000),
            )
        )
    answered = results.get("queries")
    if answered:
        slowest = max(
            (cell["median_ms"], query_range)
            for query_range, cells in answered["ranges"].items()
            for label, cell in cells.items()
            if label == "GET /admin/metrics-dashboard"
        )
        rows.append(
            (
                "every dashboard range <= 150 ms",
                f"slowest {slowest[0]:,.0f} ms ({slowest[1]})",
                _verdict(slowest[0] <= 150),
            )
        )
    stored = results.get("storage")
    if stored:
        ratio = stored["growth_ratio_10x_to_1x"]
        rows.append(
            (
                "storage at 10x <= 1.3x storage at 1x",
                f"StarPunk {ratio['starpunk']:.2f}x, "
                f"Flask-MonitoringDashboard {ratio['fmd']:.2f}x",
                _verdict(ratio["starpunk"] <= 1.3),
            )
        )
    return rows


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument(
        "--only", action="append", choices=list(BENCHMARKS), help="run only these"
    )
    args = parser.parse_args()
    names = args.only or list(BENCHMARKS)
    results: dict[str, Any] = {"machine": machine_info(), "quick": args.quick}
    sections = []
    for name in names:
        run, report, title = BENCHMARKS[name]
        began = time.perf_counter()
        say(f"== {title}")
        results[name] = run(quick=args.quick)
        results[name]["elapsed_seconds"] = time.perf_counter() - began
        sections.append(f"## {title}\n\n{report(results[name])}")
    machine = results["machine"]
    head = (
        f"# StarPunk monitoring benchmarks ({'quick' if args.quick else 'full'})\n\n"
        f"{machine['date']}; {machine['nproc']} CPUs, {machine['cpu']}; "
        f"Python {machine['python']}; SQLite {machine['sqlite']}\n"
    )
    summary = "## Targets\n\n" + markdown_table(
        ["target", "where it stands", "verdict"], targets(results)
    )
    text = "\n\n".join([head, summary, *sections]) + "\n"
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kind = "quick" if args.quick else "full"
    (RESULTS_DIR / f"{kind}-{stamp}.json").write_text(json.dumps(results, indent=1))
    (RESULTS_DIR / f"{kind}-{stamp}.md").write_text(text)
    say(f"results saved in {RESULTS_DIR}/{kind}-{stamp}.{{json,md}}")


if __name__ == "__main__":
    main()
