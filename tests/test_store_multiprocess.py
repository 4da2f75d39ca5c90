"""Real worker processes sharing one metrics file: nothing lost, nothing locked."""

from __future__ import annotations

import pytest

from metrics_store.store import TOTAL_NAME, MetricsStore
from tests.store_helpers import (
    LABELS,
    WORKER_SERIES,
    claim_worker,
    flush_worker,
    read_rollup,
    rollup_worker,
    run_processes,
)

FLUSHERS = 4
SECONDS = 2.0


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "metrics.db"
    MetricsStore(path).connection()
    return path


def test_concurrent_flushers_lose_nothing(db_path):
    jobs = [(flush_worker, (str(db_path), w, SECONDS)) for w in range(FLUSHERS)]
    jobs.append((rollup_worker, (str(db_path), SECONDS)))

    reports = run_processes(jobs)

    flushes = [r for r in reports if "worker" in r]
    (rollups,) = [r for r in reports if "rollup_runs" in r]
    assert rollups["error"] is None
    assert rollups["rollup_runs"] > 0
    for report in flushes:
        assert report["failed"] == 0, report["last_error"]
        assert report["batches"] >= 20
    minutes = read_rollup(db_path)
    for name in WORKER_SERIES:
        sent_count = sum(r["sent"][name][0] for r in flushes)
        sent_sum = sum(r["sent"][name][1] for r in flushes)
        rows = [r for k, r in minutes.items() if k[1:] == ("http", name, LABELS)]
        assert sum(r.count for r in rows) == sent_count
        assert sum(r.sum for r in rows) == sent_sum
        assert sum(r.sketch.count for r in rows) == sent_count
    assert len(minutes) == 5 * len(WORKER_SERIES)
    totals = read_rollup(db_path, totals=True)
    for (bucket, kind, name, _labels), total in totals.items():
        if name == TOTAL_NAME:
            parts = [r for k, r in minutes.items() if k[:2] == (bucket, kind)]
            assert total.count == sum(r.count for r in parts)
            assert total.sketch.count == total.count

    store = MetricsStore(db_path)
    store.rollup_hours()
    hours = read_rollup(db_path, "rollup_hour")
    assert sum(r.count for r in hours.values()) == sum(
        r.count for r in minutes.values()
    )


def test_claim_job_has_one_winner_per_period(db_path):
    periods = 200

    reports = run_processes(
        [(claim_worker, (str(db_path), "rollup", periods))] * FLUSHERS
    )

    won = [period for report in reports for period in report]
    assert sorted(won) == list(range(periods))


def test_claim_job_in_one_process(db_path):
    store = MetricsStore(db_path)

    assert store.claim_job("prune", 28_000)
    assert not store.claim_job("prune", 28_000)
    assert store.claim_job("rollup", 28_000)
    assert store.claim_job("prune", 28_001)

    store.finish_job("prune", 28_000, "deleted 5 rows")
    with store.reading() as conn:
        rows = conn.execute(
            "SELECT job, period, finished IS NOT NULL, detail FROM job_runs "
            "ORDER BY job, period"
        ).fetchall()
    assert rows == [
        ("prune", 28_000, 1, "deleted 5 rows"),
        ("prune", 28_001, 0, None),
        ("rollup", 28_000, 0, None),
    ]
