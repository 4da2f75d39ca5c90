"""Hot path: nanoseconds to record one sample, against a bare deque and Prometheus.

Every variant is a timeit loop over one call of the same shape: a request
timing of ``1.234`` ms for ``public.index`` with method and status labels,
ending at a ``perf_counter`` reading the sensor already took. The product's
hot path is the function ``Recorder.for_kind("http")`` returns, which the
sensors call. The floors are a bare ``deque.append`` of a prebuilt tuple, and
the same append of a freshly built sample tuple (the least any recorder that
keeps raw samples must do). The empty loop is measured in the same process
and subtracted. Timeit turns the garbage collector off while timing, for
every variant alike; the buffer is sized so it never fills (a full buffer
drops the oldest sample, a path the product takes only under overload).
"""

from __future__ import annotations

import timeit
from typing import Any

from bench.common import (
    command_line,
    markdown_table,
    median,
    run_interleaved,
    say,
    worker_main,
)

MODULE = "bench.hot_path"

COMMON_SETUP = """
import time
from collections import deque
kind, name, labels, value = "http", "public.index", "method=GET;status=2xx", 1.234
end = time.perf_counter()
seconds = value / 1000.0
sample = (end, kind, name, labels, value, False, None)
capacity = {number} + 1
"""
RECORDER_SETUP = """
from metrics_store.buffer import SampleBuffer
from metrics_store.recorder import Recorder
from starpunk.monitoring.settings import METRICS_DEFAULTS
rates = {'http': 1.0, 'db': 1.0, 'render': 1.0}
slow = dict(METRICS_DEFAULTS['METRICS_SLOW_MS'])
recorder = Recorder(SampleBuffer(capacity), rates, slow)
"""
HISTOGRAM_SETUP = """
from prometheus_client import CollectorRegistry, Histogram
histogram = Histogram(
    'request_seconds', 'Request time', ['method', 'status'],
    registry=CollectorRegistry(),
)
"""

# name -> (setup, statement); the statement is what one recorded sample costs.
VARIANTS: dict[str, tuple[str, str]] = {
    "empty loop": ("", "pass"),
    "deque.append(prebuilt tuple)": (
        "append = deque(maxlen=capacity).append",
        "append(sample)",
    ),
    "deque.append(new sample tuple)": (
        "append = deque(maxlen=capacity).append",
        "append((end, kind, name, labels, value, False, None))",
    ),
    "SampleBuffer.append": (
        "from metrics_store.buffer import SampleBuffer\n"
        "append = SampleBuffer(capacity).append",
        "append((end, kind, name, labels, value, False, None))",
    ),
    "Recorder.for_kind('http') (sensor hot path)": (
        RECORDER_SETUP + "record = recorder.for_kind(kind)",
        "record(name, labels, value, end)",
    ),
    "Recorder.record (generic API)": (
        RECORDER_SETUP + "record = recorder.record",
        "record(kind, name, labels, value)",
    ),
    "prometheus Histogram.labels(...).observe": (
        HISTOGRAM_SETUP,
        "histogram.labels('GET', '200').observe(seconds)",
    ),
    "prometheus child.observe (labels bound once)": (
        HISTOGRAM_SETUP + "observe = histogram.labels('GET', '200').observe",
        "observe(seconds)",
    ),
}
FLOOR_PREBUILT = "deque.append(prebuilt tuple)"
FLOOR_TUPLE = "deque.append(new sample tuple)"
RECORDER = "Recorder.for_kind('http') (sensor hot path)"


def measure(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: best ns per call of one variant and of the empty loop."""
    number = params["number"]
    common = COMMON_SETUP.format(number=number)

    def best_ns(variant: str) -> float:
        setup, statement = VARIANTS[variant]
        timer = timeit.Timer(statement, common + setup)
        timer.timeit(number=min(number, 10_000))  # warm up
        runs = timer.repeat(repeat=params["repeat"], number=number)
        return min(runs) / number * 1e9

    empty = best_ns("empty loop")
    gross = best_ns(params["variant"])
    return {"gross_ns": gross, "empty_ns": empty, "net_ns": gross - empty}


def run(quick: bool = False, progress=say) -> dict[str, Any]:
    """Measure every variant; return ns per call and ratios to the floors."""
    number = 20_000 if quick else 200_000
    rounds = 1 if quick else 7
    repeat = 3 if quick else 5
    names = [name for name in VARIANTS if name != "empty loop"]
    runs = run_interleaved(
        MODULE,
        {name: {"variant": name, "number": number, "repeat": repeat} for name in names},
        rounds,
        progress,
    )
    net = {name: median(r["net_ns"] for r in results) for name, results in runs.items()}
    gross = {
        name: median(r["gross_ns"] for r in results) for name, results in runs.items()
    }
    return {
        "rounds": rounds,
        "calls_per_repeat": number,
        "net_ns": net,
        "gross_ns": gross,
        "empty_loop_ns": median(
            r["empty_ns"] for results in runs.values() for r in results
        ),
        "ratio_to_prebuilt_floor": {n: net[n] / net[FLOOR_PREBUILT] for n in net},
        "ratio_to_tuple_floor": {n: net[n] / net[FLOOR_TUPLE] for n in net},
    }


def report(result: dict[str, Any]) -> str:
    """Markdown table of a :func:`run` result."""
    rows = [
        (
            name,
            f"{ns:.1f}",
            f"{result['ratio_to_prebuilt_floor'][name]:.2f}x",
            f"{result['ratio_to_tuple_floor'][name]:.2f}x",
        )
        for name, ns in result["net_ns"].items()
    ]
    return markdown_table(
        ["call", "ns/sample (net of loop)", "vs bare append", "vs append(new tuple)"],
        rows,
    )


def main() -> None:
    command_line(__doc__, run, report)


if __name__ == "__main__":
    if not worker_main(measure):
        main()
