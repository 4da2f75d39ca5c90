"""Sketch serialization: blob size and the cost of encoding, decoding and merging.

Sketches are built the way the seeded store builds them (one per series of
``bench.seed_history.plan_series``, log-normal values at the series' rate),
for a minute, an hour and a day of samples. Each operation runs over the whole
set and is reported in ns per sketch of CPU time (``time.process_time``,
which a busy shared machine disturbs less than wall time), the best of
several repeats.
Sketches are also packed in format version 1 (what databases written before
version 2 hold) to time reading old rows.
"""

from __future__ import annotations

import argparse
import random
import struct
import time
import timeit
from array import array
from typing import Any

from bench.common import markdown_table
from bench.seed_history import PROFILES, plan_series
from metrics_store.sketch import QuantileSketch, merge_serialized

TIERS = {"minute": 1, "hour": 60, "day": 1440}
_V1_HEADER = struct.Struct("<BBdI")


def pack_v1(sketch: QuantileSketch) -> bytes:
    """Serialize ``sketch`` in format version 1: 4-byte keys, 4- or 8-byte counts."""
    keys = array("i", sorted(sketch.bins))
    counts = [sketch.bins[key] for key in keys]
    if all(c.is_integer() and 0 <= c < 2**32 for c in counts):
        flags, packed = 0, array("I", (int(c) for c in counts))
    else:
        flags, packed = 1, array("d", counts)
    header = _V1_HEADER.pack(1, flags, sketch.zero_count, len(keys))
    return header + keys.tobytes() + packed.tobytes()


def build_sketches(minutes: int, seed: int = 20261204) -> list[QuantileSketch]:
    """One sketch per planned series holding ``minutes`` of its samples."""
    rng = random.Random(seed)
    sketches = []
    for plan in plan_series():
        median_value, spread = PROFILES[plan.profile]
        size = max(1, round(plan.rate * minutes))
        sketches.append(
            QuantileSketch.of(
                rng.lognormvariate(0.0, spread) * median_value for _ in range(size)
            )
        )
    return sketches


def per_sketch_ns(statement: str, namespace: dict[str, Any], count: int) -> float:
    """Best time of ``statement`` over several repeats, in ns per sketch."""
    timer = timeit.Timer(statement, timer=time.process_time, globals=namespace)
    number = max(1, 20_000 // count)
    return min(timer.repeat(repeat=7, number=number)) / number / count * 1e9


def measure_tier(minutes: int) -> dict[str, Any]:
    """Sizes and timings for one tier's sketches."""
    sketches = build_sketches(minutes)
    blobs = [sketch.to_bytes() for sketch in sketches]
    old = [pack_v1(sketch) for sketch in sketches]
    namespace = {
        "QuantileSketch": QuantileSketch,
        "merge_serialized": merge_serialized,
        "sketches": sketches,
        "blobs": blobs,
        "old": old,
        "pairs": list(zip(blobs, blobs[1:] + blobs[:1], strict=True)),
    }
    count = len(sketches)
    statements = {
        "to_bytes": "for s in sketches: s.to_bytes()",
        "from_bytes": "for b in blobs: QuantileSketch.from_bytes(b)",
        "from_bytes (v1 blob)": "for b in old: QuantileSketch.from_bytes(b)",
        "merge_bytes": "m = QuantileSketch()\nfor b in blobs: m.merge_bytes(b)",
        "merge_bytes (v1 blob)": "m = QuantileSketch()\nfor b in old: m.merge_bytes(b)",
        "merge_serialized": "for a, b in pairs: merge_serialized(a, b)",
    }
    return {
        "sketches": count,
        "buckets": sum(len(s.bins) for s in sketches) / count,
        "bytes": sum(map(len, blobs)) / count,
        "bytes_v1": sum(map(len, old)) / count,
        "ns": {
            name: per_sketch_ns(statement, namespace, count)
            for name, statement in statements.items()
        },
    }


def run() -> dict[str, Any]:
    """Sizes and timings for minute, hour and day sketches."""
    return {tier: measure_tier(minutes) for tier, minutes in TIERS.items()}


def report(result: dict[str, Any]) -> str:
    """Markdown table: one row per tier and operation."""
    rows = []
    for tier, data in result.items():
        rows.append(
            (
                tier,
                "blob bytes (v1 packing)",
                f"{data['bytes']:.0f} ({data['bytes_v1']:.0f}), "
                f"{data['buckets']:.0f} buckets",
            )
        )
        for name, ns in data["ns"].items():
            rows.append((tier, name, f"{ns:,.0f} ns"))
    return markdown_table(["tier", "operation", "per sketch"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    print(report(run()))


if __name__ == "__main__":
    main()
