"""Seeding a metrics database with months of realistic history, fast.

Rows go straight into ``rollup_minute`` and ``rollup_hour`` in primary-key
order, one day per transaction, with the journal and syncing off while
seeding (the file is switched back to WAL at the end). Sketches are real
:class:`QuantileSketch` blobs built from log-normal samples, but only a
small pool of them per series profile and rate is built; rows cycle through
the pool, so seeding costs database writes, not sketch building. The
later migrations and a day rollup then add the per-kind totals and the day
tier, which takes a few minutes more.

Each series has a rate in samples per minute. A series under one sample a
minute is missing from some minutes (a gap, as in production); the others
have a row in every minute. Hour rows hold 60 minutes' worth of samples.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metrics_store.sketch import QuantileSketch
from metrics_store.store import MetricsStore, default_migrations_dir, unit_for
from metrics_store.timebuckets import DAY, HOUR, MINUTE, floor_to

SEED_FORMAT = 3  # bump when the seeding changes, so cached files are rebuilt
POOL_SIZE = 24

# (median, spread) of log-normal values per profile, in the series' unit.
PROFILES = {
    "http": (30.0, 0.6),
    "db": (0.3, 0.8),
    "render": (4.0, 0.5),
    "rss_bytes": (80e6, 0.05),
    "cpu_percent": (3.0, 0.7),
    "threads": (5.0, 0.1),
    "open_fds": (12.0, 0.1),
}
HTTP_RATES = [30, 10, 20, 5, 2, 1, 0.5, 0.2]
DB_RATES = [30, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1]
RENDER_RATES = [30, 10, 2, 1, 0.5]
GAUGE_RATE = 4  # one reading every 15 seconds


@dataclass(frozen=True)
class SeriesPlan:
    """One seeded series: identity, value profile and samples per minute."""

    id: int
    kind: str
    name: str
    labels: str
    profile: str
    rate: float


def plan_series(count: int = 200) -> list[SeriesPlan]:
    """A realistic mix: ~15% requests, ~70% statements, ~10% templates, gauges."""
    plans: list[SeriesPlan] = []
    gauges = [
        (name, f"pid={pid}")
        for pid in (4101, 4102)
        for name in ("rss_bytes", "cpu_percent", "threads", "open_fds")
    ]
    n_gauges = min(len(gauges), count // 20)
    rest = count - n_gauges
    n_http = rest * 15 // 100
    n_render = rest * 10 // 100
    n_db = rest - n_http - n_render
    labels = [
        "method=GET;status=2xx",
        "method=GET;status=3xx",
        "method=POST;status=2xx",
    ]
    for i in range(n_http):
        plans.append(
            SeriesPlan(
                0,
                "http",
                f"public.endpoint_{i // 3}",
                labels[i % 3],
                "http",
                HTTP_RATES[i % len(HTTP_RATES)],
            )
        )
    for i in range(n_db):
        plans.append(
            SeriesPlan(
                0,
                "db",
                f"SELECT id, slug, title, body FROM notes_{i} WHERE slug = ? LIMIT ?",
                "op=SELECT",
                "db",
                DB_RATES[i % len(DB_RATES)],
            )
        )
    for i in range(n_render):
        plans.append(
            SeriesPlan(
                0,
                "render",
                f"template_{i}.html",
                "",
                "render",
                RENDER_RATES[i % len(RENDER_RATES)],
            )
        )
    for name, label in gauges[:n_gauges]:
        plans.append(SeriesPlan(0, "process", name, label, name, GAUGE_RATE))
    return [
        SeriesPlan(index + 1, p.kind, p.name, p.labels, p.profile, p.rate)
        for index, p in enumerate(plans)
    ]


def build_pool(profile: str, samples: float, rng: random.Random) -> list[tuple]:
    """``POOL_SIZE`` rows ``(count, sum, min, max, sketch)`` of ~``samples`` each."""
    median_value, spread = PROFILES[profile]
    pool = []
    for _ in range(POOL_SIZE):
        size = max(1, round(rng.gauss(samples, samples**0.5)))
        values = [rng.lognormvariate(0.0, spread) * median_value for _ in range(size)]
        sketch = QuantileSketch.of(values)
        pool.append(
            (float(size), sum(values), min(values), max(values), sketch.to_bytes())
        )
    return pool


def seed(
    path: Path,
    *,
    series: int = 200,
    minute_days: float = 7,
    hour_days: float = 400,
    end: int | None = None,
) -> dict[str, Any]:
    """Create ``path`` (which must not exist) with full-retention history.

    Returns what was seeded, including ``end``: the newest minute bucket
    plus one minute, the instant to query "now" at.
    """
    if path.exists():
        raise FileExistsError(f"refusing to seed over an existing file {path}")
    began = time.perf_counter()
    end = end if end is not None else floor_to(time.time(), MINUTE) + MINUTE
    with tempfile.TemporaryDirectory() as folder:
        # Rows go in at the first schema version; the later migrations then
        # derive what they add (per-kind totals, days to roll up) from them,
        # as they would on a live site.
        first = Path(folder)
        shutil.copy(default_migrations_dir() / "0001_initial.sql", first)
        initial = MetricsStore(path, migrations_dir=first)
        initial.connection()
        initial.close()
    plans = plan_series(series)
    rng = random.Random(42)
    pools = {}
    for plan in plans:
        key = (plan.profile, plan.rate)
        if key not in pools:
            pools[key] = (
                build_pool(plan.profile, max(plan.rate, 1.0), rng),
                build_pool(plan.profile, plan.rate * 60, rng),
            )
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO series (id, kind, name, labels, unit, created) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (p.id, p.kind, p.name, p.labels, unit_for(p.kind, p.name), end - 1)
                for p in plans
            ],
        )
        conn.execute("COMMIT")
        minute_rows = _seed_tier(
            conn, "rollup_minute", plans, pools, 0, MINUTE, end, minute_days
        )
        hour_rows = _seed_tier(
            conn, "rollup_hour", plans, pools, 1, HOUR, end, hour_days
        )
        # The current hour always has fresh minutes: queries merge it from them.
        conn.execute(
            "INSERT OR IGNORE INTO dirty_hours (bucket) VALUES (?)",
            (floor_to(end - 1, HOUR),),
        )
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    upgraded = MetricsStore(path)
    upgraded.rollup_days()
    upgraded.close()
    return {
        "series": len(plans),
        "minute_days": minute_days,
        "hour_days": hour_days,
        "minute_rows": minute_rows,
        "hour_rows": hour_rows,
        "end": end,
        "bytes": path.stat().st_size,
        "seconds": time.perf_counter() - began,
    }


def _seed_tier(conn, table, plans, pools, tier, width, end, days) -> int:
    last = floor_to(end - 1, width)
    first = last - int(days * DAY) + width
    rows_written = 0
    statement = (
        f"INSERT INTO {table} (bucket, series_id, count, sum, min, max, sketch) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    per_minute = width // MINUTE
    for day_start in range(first, last + 1, DAY):
        day_end = min(day_start + DAY, last + width)
        rows = []
        for bucket in range(day_start, day_end, width):
            step = bucket // width
            for plan in plans:
                expected = plan.rate * per_minute
                if expected < 1 and _hash_fraction(step, plan.id) >= expected:
                    continue  # a gap: this low-rate series had no sample here
                pool = pools[(plan.profile, plan.rate)][tier]
                rows.append((bucket, plan.id, *pool[(step + plan.id) % POOL_SIZE]))
        conn.execute("BEGIN")
        conn.executemany(statement, rows)
        conn.execute("COMMIT")
        rows_written += len(rows)
    return rows_written


def _hash_fraction(step: int, series_id: int) -> float:
    """A fixed pseudo-random number in [0, 1) for a (bucket, series) pair."""
    return ((step * 2654435761 + series_id * 40503) % 1000) / 1000.0


def cached_seed(cache: Path, **params: Any) -> tuple[Path, dict[str, Any]]:
    """Return a seeded file for ``params``, building it unless cached already.

    The cache key covers the parameters, the seeding format and the metrics
    migrations, so a schema change rebuilds the file. A cached file keeps
    its original ``end``; queries use it as their "now".
    """
    migrations = "".join(
        p.read_text() for p in sorted(default_migrations_dir().glob("*.sql"))
    )
    key = hashlib.sha256(
        json.dumps([SEED_FORMAT, params, migrations], sort_keys=True).encode()
    ).hexdigest()[:16]
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"history-{key}.db"
    meta = cache / f"history-{key}.json"
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        info["cached"] = True
        return path, info
    for leftover in cache.glob(f"history-{key}.db*"):
        leftover.unlink()
    info = seed(path, **params)
    meta.write_text(json.dumps(info))
    info["cached"] = False
    return path, info
