"""SVG charts, rates and unit formatting of the dashboard."""

from __future__ import annotations

import math
import re

import pytest

from metrics_store.ranges import TimeRange
from starpunk.monitoring.formatting import (
    format_age,
    format_ratio,
    format_time,
    format_value,
)
from starpunk.monitoring.panels import RateScale
from starpunk.monitoring.svg_charts import Frame, Line, legend, line_chart, nice_ceiling

FRAME = Frame(start=6000, end=6600, step=60)  # ten minute buckets


def path_of(svg: str, label: str) -> str:
    match = re.search(rf'data-label="{label}"[^>]*><path d="([^"]*)"', svg)
    assert match
    return match.group(1)


def test_each_value_is_a_vertex_and_gaps_break_the_line():
    values = {6000: 1.0, 6060: 2.0, 6120: 3.0, 6300: 4.0, 6360: 5.0, 6540: 6.0}

    svg = line_chart([Line("p95", values)], FRAME, "ms", "Latency")

    path = path_of(svg, "p95")
    assert path.count("M") == 3
    assert path.count("L") == 3
    assert 'data-points="6"' in svg
    assert 'data-values="1,2,3,,,4,5,,,6"' in svg
    # The lone last value has no neighbour to draw a segment to.
    assert svg.count("<circle") == 1


def test_higher_values_are_drawn_higher():
    svg = line_chart([Line("x", {6000: 1.0, 6060: 9.0})], FRAME, "ms", "t")

    (first, second) = re.findall(r"[ML][\d.]+,([\d.]+)", path_of(svg, "x"))
    assert float(second) < float(first)


def test_an_empty_chart_says_so():
    svg = line_chart([Line("p95", {})], FRAME, "ms", "Latency")

    assert 'data-empty="1"' in svg
    assert "No data in this range" in svg
    assert "<path" not in svg


def test_labels_are_escaped():
    svg = line_chart([Line('<b>"x"</b>', {6000: 1.0})], FRAME, "ms", "<t>")

    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert "&lt;t&gt;" in svg


def test_axis_labels_carry_the_unit():
    svg = line_chart([Line("rss", {6000: 61e6})], FRAME, "bytes", "Memory")

    labels = re.findall(r'text-anchor="end">([^<]*)<', svg)
    assert labels[0] == "0 B" and labels[-1] == "100.0 MB"


def test_legend_shows_the_latest_value_with_its_unit():
    html = legend([Line("p95", {6000: 3.0, 6060: 12.5}, "s1")], "ms")

    assert "p95 <b>12.5 ms</b>" in html
    assert 'class="swatch s1"' in html


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 1), (0.7, 1), (1, 1), (1.2, 2), (2.2, 2.5), (3, 5), (7, 10), (4300, 5000)],
)
def test_nice_ceiling(value, expected):
    assert nice_ceiling(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (None, "ms", "–"),
        (0.4213, "ms", "0.42 ms"),
        (42.17, "ms", "42.2 ms"),
        (420.6, "ms", "421 ms"),
        (1523, "ms", "1.52 s"),
        (999, "bytes", "999 B"),
        (61_234_567, "bytes", "61.2 MB"),
        (3.5e9, "bytes", "3.5 GB"),
        (2.5, "percent", "2.50 %"),
        (1234, "count", "1,234"),
        (2.5, "count", "2.5"),
        (7.25, "req/min", "7.25 req/min"),
        (3, "threads", "3.00 threads"),
    ],
)
def test_format_value(value, unit, expected):
    assert format_value(value, unit) == expected


def test_other_formats():
    assert format_ratio(0.0272) == "2.72 %"
    assert format_ratio(None) == "–"
    assert format_time(1_700_000_000) == "2023-11-14 22:13:20 UTC"
    assert format_age(1_700_000_000 - 4, 1_700_000_000) == "4 s ago"
    assert format_age(1_700_000_000 - 600, 1_700_000_000) == "10 min ago"
    assert format_age(None, 1) == "never"


@pytest.mark.parametrize(
    ("bucket", "count", "now", "expected"),
    [
        (0, 600, 5000, 10.0),  # a whole past hour: per 60 minutes
        (3600, 150, 3600 + 900, 10.0),  # 15 minutes into the current hour
        (3600, 5, 3600 + 10, 5.0),  # never less than a minute
        (3600, 600, None, 10.0),
    ],
)
def test_rates_divide_the_current_hour_by_its_elapsed_minutes(
    bucket, count, now, expected
):
    scale = RateScale(TimeRange(0, 7200, "hour"), now)

    assert scale(bucket, count) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("top", "ticks"), [(1.0, 5), (2.0, 4), (2.5, 5), (5.0, 5), (0.1, 5), (400.0, 4)]
)
def test_axis_ticks_are_round_numbers(top, ticks):
    from starpunk.monitoring.svg_charts import tick_count

    assert tick_count(top) == ticks
    step = top / ticks
    factor = step / 10 ** math.floor(math.log10(step))
    assert min(abs(factor - nice) for nice in (1, 2, 5)) < 1e-9


def test_rate_axis_labels_are_short_enough_for_the_margin():
    from starpunk.monitoring.formatting import format_axis

    assert format_axis(2500, "queries/min") == "2,500/min"
    assert format_axis(0.625 * 4, "req/min") == "2.50/min"
    assert format_axis(12.5, "ms") == "12.5 ms"
