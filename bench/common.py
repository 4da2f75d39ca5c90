"""What every benchmark shares: worker processes, interleaving, medians, tables."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
WORKER_FLAG = "--worker"
WORKER_TIMEOUT_SECONDS = 900
# Peers print to stdout (some at exit), so the result line carries a marker.
RESULT_MARKER = "BENCH-RESULT "


def machine_info() -> dict[str, Any]:
    """Describe the machine: cores, CPU model, Python and SQLite versions."""
    import sqlite3

    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a worker process: one hash seed everywhere, no .pyc writes."""
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if extra:
        env.update(extra)
    return env


def spawn_worker(module: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run ``python -m module --worker PARAMS`` and return the result it prints."""
    command = [sys.executable, "-m", module, WORKER_FLAG, json.dumps(params)]
    done = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_SECONDS,
        check=False,
    )
    lines = [
        line[len(RESULT_MARKER) :]
        for line in done.stdout.splitlines()
        if line.startswith(RESULT_MARKER)
    ]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"benchmark worker {module} {params!r} failed with exit code "
            f"{done.returncode}:\n{done.stdout[-1000:]}\n{done.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def worker_main(measure: Callable[[dict[str, Any]], dict[str, Any]]) -> bool:
    """In a ``__main__`` block: if called as a worker, measure and print JSON."""
    if len(sys.argv) < 3 or sys.argv[1] != WORKER_FLAG:
        return False
    result = measure(json.loads(sys.argv[2]))
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return True


def interleaved(names: Sequence[str], rounds: int) -> list[tuple[int, str]]:
    """Return (round, name) pairs: A B C, then B C A, then C A B, ..."""
    order = []
    for number in range(rounds):
        shift = number % len(names)
        rotated = list(names[shift:]) + list(names[:shift])
        order.extend((number, name) for name in rotated)
    return order


def run_interleaved(
    module: str,
    variants: dict[str, dict[str, Any]],
    rounds: int,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run every variant once per round, each in a fresh process, interleaved."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for number, name in interleaved(list(variants), rounds):
        if progress is not None:
            progress(f"{module} round {number + 1}/{rounds}: {name}")
        results[name].append(spawn_worker(module, variants[name]))
    return results


def median(values: Iterable[float]) -> float:
    """Median of a non-empty iterable of numbers."""
    return statistics.median(list(values))


def paired_ratios(
    runs: dict[str, list[dict[str, Any]]], baseline: str, field: Callable
) -> dict[str, float]:
    """Median over rounds of ``field(variant) / field(baseline)`` in the same round."""
    ratios = {}
    for name, results in runs.items():
        per_round = [
            field(result) / field(base)
            for result, base in zip(results, runs[baseline], strict=True)
        ]
        ratios[name] = median(per_round)
    return ratios


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Format rows as a GitHub markdown table."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(" --- " for _ in headers) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def say(message: str) -> None:
    """Progress on stderr, so stdout stays the results."""
    print(message, file=sys.stderr, flush=True)


def command_line(doc: str, run, report, *, sites: bool = False) -> None:
    """Run a benchmark from the command line and print its report.

    ``--quick`` asks for a short smoke run; with ``sites``, ``--site`` (given
    once or more) picks the sites measured.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    if sites:
        parser.add_argument("--site", action="append", help="demo or starpunk")
    args = parser.parse_args()
    options = {"quick": args.quick}
    if sites:
        options["sites"] = args.site
    print(report(run(**options)))
