"""What the dashboard shows: charts, tables and cards built from queries."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from metrics_store.activity import Event, Worker, count_events, recent_events
from metrics_store.queries import (
    Point,
    averages_by_labels,
    counts_by_label,
    merged_totals,
    merged_totals_by_name,
)
from metrics_store.ranges import MetricsQuery, TimeRange
from metrics_store.summaries import (
    Summary,
    summarize,
    summarize_with_total,
    top_by_total,
)
from metrics_store.timebuckets import DAY, HOUR, MINUTE, floor_to
from starpunk.monitoring.formatting import format_ratio, format_value
from starpunk.monitoring.svg_charts import WIDTH, Frame, Line, legend, line_chart

STATUS_TONES = {"2xx": "ok", "3xx": "info", "4xx": "warn", "5xx": "bad"}
PERCENTILE_TONES = (("p50", "s0"), ("p95", "s1"), ("p99", "s2"))
SERIES_TONES = ("s0", "s1", "s2", "s3", "s4", "s5")
TOP_STATEMENTS = 15
TOP_TEMPLATES = 6
EVENT_LIMIT = 25
WIDE_WIDTH = 2 * WIDTH
# A line of more than a few hundred buckets shows no more on screen, and
# every row read costs a sketch merge: long ranges chart wider buckets.
# Six hours of minutes fit, so a bucket there is one row whose percentiles
# come straight from its bytes. Beyond an hour the next width is a day,
# since buckets of a few hours would still read every hour row, while a
# day reads one day row.
MAX_CHART_POINTS = 360
CHART_STEPS = (
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    DAY,
)
DETAIL_RATE_TITLES = {
    "http": "Requests by status class",
    "db": "Calls",
    "render": "Renders",
}


@dataclass
class Chart:
    """A titled chart with its legend, ready for the template."""

    key: str
    title: str
    unit: str
    svg: Markup
    legend: Markup
    points: int

    @property
    def empty(self) -> bool:
        """True when no line has a point in the range."""
        return self.points == 0


@dataclass
class Card:
    """A headline number."""

    label: str
    value: str
    detail: str = ""
    tone: str = ""


@dataclass
class DashboardView:
    """Everything one dashboard page shows."""

    query: MetricsQuery
    cards: list[Card] = field(default_factory=list)
    charts: dict[str, Chart] = field(default_factory=dict)
    endpoints: list[Summary] = field(default_factory=list)
    statements: list[Summary] = field(default_factory=list)
    templates: list[Summary] = field(default_factory=list)
    breakdown: list[Summary] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def detail(self) -> bool:
        """True for a single-name view (one endpoint, statement or template)."""
        return self.query.name is not None


class RateScale:
    """Turns a bucket's count into a per-minute rate.

    A bucket is divided by the part of it that lies in the range and has
    already happened: the newest bucket is still filling, and with wide
    chart buckets the oldest may start before the range, so neither line
    dips at its edge.
    """

    def __init__(
        self, time_range: TimeRange, now: float | None, step: int | None = None
    ) -> None:
        self.step = step or time_range.step
        self.start = time_range.start
        self.end = time_range.end
        self.now = now

    def __call__(self, bucket: int, count: float) -> float:
        """Return ``count`` per minute of the bucket's elapsed time."""
        begins = max(bucket, self.start)
        ends = min(bucket + self.step, self.end)
        if self.now is not None and bucket <= self.now < bucket + self.step:
            ends = max(begins + MINUTE, min(self.now, ends))
        return count * 60.0 / max(MINUTE, ends - begins)


def chart_step(time_range: TimeRange) -> int:
    """Bucket width for the range's charts: its own, or wider for long ranges.

    The narrowest of ``CHART_STEPS`` (and at least the range's step) that
    keeps a line within ``MAX_CHART_POINTS`` buckets.
    """
    for step in CHART_STEPS:
        if step % time_range.step:
            continue
        if -(-time_range.span // step) <= MAX_CHART_POINTS:
            return step
    return CHART_STEPS[-1]


def make_chart(
    key: str,
    title: str,
    unit: str,
    lines: list[Line],
    time_range: TimeRange,
    wide: bool = False,
    step: int | None = None,
) -> Chart:
    """Draw lines over the range's buckets (twice as wide for a full-row panel).

    ``step`` draws wider buckets than the range's own, aligned to UTC.
    """
    width = WIDE_WIDTH if wide else WIDTH
    step = step or time_range.step
    frame = Frame(
        floor_to(time_range.start, step), -floor_to(-time_range.end, step), step, width
    )
    return Chart(
        key=key,
        title=title,
        unit=unit,
        svg=line_chart(lines, frame, unit, title),
        legend=legend(lines, unit),
        points=sum(len(line.values) for line in lines),
    )


def build_overview(
    conn: sqlite3.Connection, query: MetricsQuery, now: float | None = None
) -> DashboardView:
    """Site-wide panels: traffic, latency, database, rendering and processes."""
    time_range = query.time_range
    view = DashboardView(query)
    step = chart_step(time_range)
    per_minute = RateScale(time_range, now, step)

    by_status = counts_by_label(conn, time_range, "http", "status", step=step)
    http = merged_totals(conn, time_range, "http", step=step)
    view.charts["requests"] = make_chart(
        "requests",
        "Requests by status class",
        "req/min",
        _status_lines(by_status, per_minute),
        time_range,
        step=step,
    )
    view.charts["errors"] = make_chart(
        "errors",
        "Error rate",
        "percent",
        _error_lines(by_status),
        time_range,
        step=step,
    )
    view.charts["latency"] = make_chart(
        "latency",
        "Request latency",
        "ms",
        _percentile_lines(http),
        time_range,
        wide=True,
        step=step,
    )

    db = merged_totals(conn, time_range, "db", step=step)
    view.charts["db_rate"] = make_chart(
        "db_rate",
        "Database queries",
        "queries/min",
        [Line("queries", {p.bucket: per_minute(p.bucket, p.count) for p in db}, "s3")],
        time_range,
        step=step,
    )
    view.charts["db_latency"] = make_chart(
        "db_latency",
        "Query latency",
        "ms",
        _percentile_lines(db),
        time_range,
        step=step,
    )

    view.templates = summarize(conn, time_range, "render")
    view.charts["render"] = make_chart(
        "render",
        "Render time p95 by template",
        "ms",
        _name_lines(conn, time_range, "render", view.templates[:TOP_TEMPLATES], step),
        time_range,
        step=step,
    )
    _process_charts(conn, view, step)

    view.endpoints, http_total = summarize_with_total(conn, time_range, "http")
    view.statements = top_by_total(conn, time_range, "db", TOP_STATEMENTS)
    view.events = recent_events(conn, time_range, limit=EVENT_LIMIT)
    view.cards = _overview_cards(conn, view, http_total, db)
    return view


def build_detail(
    conn: sqlite3.Connection, query: MetricsQuery, now: float | None = None
) -> DashboardView:
    """Panels for one name: an endpoint, a statement, a template or a gauge."""
    time_range = query.time_range
    kind, name = query.kind or "http", query.name
    view = DashboardView(query)
    step = chart_step(time_range)
    per_minute = RateScale(time_range, now, step)

    if kind == "process":
        _process_charts(conn, view, step, only=name)
        return view
    totals = merged_totals(conn, time_range, kind, name, step=step)
    if kind == "http":
        by_status = counts_by_label(conn, time_range, "http", "status", name, step=step)
        count_lines = _status_lines(by_status, per_minute)
        unit = "req/min"
    else:
        count_lines = [
            Line(
                "count", {p.bucket: per_minute(p.bucket, p.count) for p in totals}, "s3"
            )
        ]
        unit = "per min"
    view.charts["count"] = make_chart(
        "count", "Rate", unit, count_lines, time_range, step=step
    )
    view.charts["latency"] = make_chart(
        "latency", "Latency", "ms", _percentile_lines(totals), time_range, step=step
    )
    view.breakdown = summarize(conn, time_range, kind, name=name, group="labels")
    view.events = recent_events(conn, time_range, kind=kind, name=name, limit=100)
    total = sum(s.count for s in view.breakdown)
    errors = sum(s.errors for s in view.breakdown)
    merged = summarize(conn, time_range, kind, name=name)
    if merged:
        summary = merged[0]
        view.cards = [
            Card("Count", format_value(total, "count")),
            Card("Average", format_value(summary.avg, "ms")),
            Card("p95", format_value(summary.p95, "ms")),
            Card("p99", format_value(summary.p99, "ms")),
            Card("Max", format_value(summary.max, "ms")),
        ]
        if kind == "http":
            view.cards.append(
                Card("Errors (5xx)", format_ratio(errors / total if total else None))
            )
    return view


def _status_lines(
    by_status: dict[str, dict[int, float]], scale: RateScale
) -> list[Line]:
    return [
        Line(
            status or "other",
            {bucket: scale(bucket, count) for bucket, count in counts.items()},
            STATUS_TONES.get(status, "s5"),
        )
        for status, counts in sorted(by_status.items())
    ]


def _error_lines(by_status: dict[str, dict[int, float]]) -> list[Line]:
    totals: dict[int, float] = {}
    for counts in by_status.values():
        for bucket, count in counts.items():
            totals[bucket] = totals.get(bucket, 0.0) + count
    lines = []
    for status in ("5xx", "4xx"):
        counts = by_status.get(status, {})
        # Every bucket with traffic has a rate, zero included; no traffic is a gap.
        values = {
            bucket: 100 * counts.get(bucket, 0.0) / total
            for bucket, total in totals.items()
            if total
        }
        lines.append(Line(status, values, STATUS_TONES[status]))
    return lines


def _percentile_lines(points) -> list[Line]:
    return [
        Line(
            label,
            {
                p.bucket: getattr(p, label)
                for p in points
                if getattr(p, label) is not None
            },
            tone,
        )
        for label, tone in PERCENTILE_TONES
    ]


def _name_lines(
    conn: sqlite3.Connection,
    time_range: TimeRange,
    kind: str,
    summaries: list[Summary],
    step: int,
) -> list[Line]:
    by_name = merged_totals_by_name(
        conn, time_range, kind, [summary.name for summary in summaries], step=step
    )
    lines = []
    for index, summary in enumerate(summaries):
        points = by_name[summary.name]
        lines.append(
            Line(
                summary.name,
                {p.bucket: p.p95 for p in points if p.p95 is not None},
                SERIES_TONES[index % len(SERIES_TONES)],
            )
        )
    return lines


def _process_charts(
    conn: sqlite3.Connection,
    view: DashboardView,
    step: int,
    only: str | None = None,
) -> None:
    time_range = view.query.time_range
    gauges = (
        ("rss_bytes", "Memory (RSS) per worker", "bytes"),
        ("cpu_percent", "CPU per worker", "percent"),
        ("threads", "Threads per worker", "threads"),
        ("open_fds", "Open files per worker", "fds"),
    )
    for name, title, unit in gauges:
        if only is None and name not in ("rss_bytes", "cpu_percent"):
            continue
        if only is not None and name != only:
            continue
        by_worker = averages_by_labels(conn, time_range, "process", name, step=step)
        lines = [
            Line(
                labels.replace("worker=", "worker ").replace("pid=", "pid "),
                values,
                SERIES_TONES[index % len(SERIES_TONES)],
            )
            for index, (labels, values) in enumerate(by_worker.items())
        ]
        if len(lines) > 1 and name != "cpu_percent":
            lines.append(Line("total", _sum_lines(lines), "total"))
        view.charts[name] = make_chart(name, title, unit, lines, time_range, step=step)


def _sum_lines(lines: list[Line]) -> dict[int, float]:
    # Gauges of different workers add up (memory of the whole site); a worker
    # absent from a bucket contributes nothing to it.
    total: dict[int, float] = {}
    for line in lines:
        for bucket, value in line.values.items():
            total[bucket] = total.get(bucket, 0.0) + value
    return total


def _overview_cards(
    conn: sqlite3.Connection,
    view: DashboardView,
    http: Summary | None,
    db: list[Point],
) -> list[Card]:
    time_range = view.query.time_range
    requests = http.count if http else 0
    errors = http.errors if http else 0
    error_ratio = errors / requests if requests else None
    p95 = http.p95 if http else None
    p99 = http.p99 if http else None
    slow, failed = count_events(conn, time_range)
    minutes = time_range.span / 60
    return [
        Card(
            "Requests",
            format_value(requests, "count"),
            format_value(requests / minutes, "req/min") + " on average",
        ),
        Card(
            "Errors (5xx)",
            format_ratio(error_ratio),
            f"{format_value(errors, 'count')} responses",
            "bad" if error_ratio and error_ratio >= 0.01 else "ok",
        ),
        Card(
            "Latency p95",
            format_value(p95, "ms"),
            "p99 " + format_value(p99, "ms"),
        ),
        Card(
            "Database queries",
            format_value(sum(p.count for p in db), "count"),
            format_value(sum(p.count for p in db) / minutes, "queries/min"),
        ),
        Card(
            "Slow log",
            format_value(slow + failed, "count"),
            f"{format_value(slow, 'count')} slow, {format_value(failed, 'count')} "
            "errors",
            "warn" if failed else "",
        ),
    ]
