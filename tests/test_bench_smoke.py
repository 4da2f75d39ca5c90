"""Smoke runs of the pure-Python benchmarks: they run and their output is sane.

No timing is asserted: the numbers depend on the machine. What is checked is
that every variant produced a positive, finite figure and the report renders.
"""

from __future__ import annotations

import math

from bench import flush, hot_path


def quiet(_message: str) -> None:
    """Progress sink that keeps the test output clean."""


def positive(value: float) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and value > 0


def test_hot_path_quick_run_measures_every_variant():
    result = hot_path.run(quick=True, progress=quiet)

    measured = set(result["net_ns"])
    assert measured == set(hot_path.VARIANTS) - {"empty loop"}
    assert all(positive(ns) for ns in result["gross_ns"].values())
    assert result["ratio_to_prebuilt_floor"][hot_path.FLOOR_PREBUILT] == 1.0
    assert hot_path.RECORDER in hot_path.report(result)


def test_flush_quick_run_covers_the_grid_and_the_sketches():
    result = flush.run(quick=True, progress=quiet)

    assert {(cell["series"], cell["batch"]) for cell in result["grid"]} == {
        (10, 1_000),
        (10, 10_000),
        (100, 1_000),
        (100, 10_000),
    }
    for cell in result["grid"]:
        assert positive(cell["samples_per_second"])
        assert set(cell["ns_per_sample"]) == {"drain", "add_raw", "write_batch"}
    assert positive(result["sketch"]["QuantileSketch.add"]["ns_per_add"])
    assert positive(result["sketch"]["ddsketch DDSketch.add"]["ns_per_add"])
    assert "samples/flush" in flush.report(result)
