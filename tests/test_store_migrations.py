"""Metrics migrations: applied once, atomically, even from many processes."""

from __future__ import annotations

import sqlite3

import pytest

from metrics_store.migrate import apply_migrations, pending_migrations, split_statements
from metrics_store.store import MetricsStore, default_migrations_dir
from tests.store_helpers import (
    migrate_worker,
    open_store_worker,
    query_all,
    run_processes,
)

TABLES = {
    "series",
    "rollup_minute",
    "rollup_hour",
    "rollup_day",
    "dirty_days",
    "dirty_hours",
    "events",
    "processes",
    "job_runs",
    "counters",
    "schema_migrations",
}
SHIPPED = [(1, "initial"), (2, "kind_totals"), (3, "day_tier"), (4, "worker_slots")]
VERSIONS = [version for version, _ in SHIPPED]


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }


@pytest.fixture
def conn(tmp_path):
    connection = sqlite3.connect(tmp_path / "metrics.db", isolation_level=None)
    yield connection
    connection.close()


def test_migrations_apply_once(conn):
    assert apply_migrations(conn, default_migrations_dir()) == VERSIONS
    assert apply_migrations(conn, default_migrations_dir()) == []

    assert table_names(conn) == TABLES
    assert (
        conn.execute("SELECT version, name FROM schema_migrations").fetchall()
        == SHIPPED
    )


def test_reopening_a_store_keeps_its_data(tmp_path):
    path = tmp_path / "metrics.db"
    first = MetricsStore(path)
    first.claim_job("rollup", 1)
    first.close()

    second = MetricsStore(path)

    assert not second.claim_job("rollup", 1)
    assert query_all(path, "SELECT count(*) FROM schema_migrations") == [
        (len(VERSIONS),)
    ]


def test_new_migrations_run_in_order(conn, tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_first.sql").write_text("CREATE TABLE a (x);\n")
    assert apply_migrations(conn, folder) == [1]
    (folder / "0003_third.sql").write_text("INSERT INTO a VALUES (3);\n")
    (folder / "0002_second.sql").write_text("INSERT INTO a VALUES (2);\n")

    assert apply_migrations(conn, folder) == [2, 3]
    assert conn.execute("SELECT x FROM a").fetchall() == [(2,), (3,)]


def test_failing_migration_changes_nothing(conn, tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (x);\n")
    (folder / "0002_broken.sql").write_text(
        "CREATE TABLE b (y);\nINSERT INTO missing VALUES (1);\n"
    )

    with pytest.raises(sqlite3.OperationalError, match="missing"):
        apply_migrations(conn, folder)

    assert "b" not in table_names(conn)
    assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]
    assert not conn.in_transaction


def test_migration_ending_in_a_comment_applies(conn, tmp_path):
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (x);\n-- a closing note\n")

    assert apply_migrations(conn, tmp_path) == [1]
    assert "a" in table_names(conn)


def test_badly_named_migration_is_rejected(tmp_path):
    (tmp_path / "first.sql").write_text("SELECT 1;")

    with pytest.raises(ValueError, match="first.sql"):
        pending_migrations(tmp_path)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("CREATE TABLE a (x);\nCREATE TABLE b (y);\n", 2),
        ("-- only a comment\n\nCREATE TABLE a (x);\n", 1),
        ("INSERT INTO a VALUES ('x;\ny');\n", 1),
        ("CREATE TABLE a (\n  x INTEGER -- why; not what\n);\n", 1),
    ],
)
def test_split_statements(script, expected):
    statements = split_statements(script)

    assert len(statements) == expected
    assert all(sqlite3.complete_statement(s) for s in statements)


def test_concurrent_migrations_apply_exactly_once(tmp_path):
    path = str(tmp_path / "metrics.db")

    reports = run_processes([(migrate_worker, (path,))] * 6)

    # Each version is applied by exactly one process (not always the same one).
    assert sorted(v for report in reports for v in report) == VERSIONS
    assert query_all(path, "SELECT version FROM schema_migrations") == [
        (v,) for v in VERSIONS
    ]


def test_concurrent_store_start_up_succeeds_everywhere(tmp_path):
    path = str(tmp_path / "fresh" / "metrics.db")

    reports = run_processes([(open_store_worker, (path,))] * 6)

    assert reports == ["ok"] * 6
    assert query_all(path, "SELECT version FROM schema_migrations") == [
        (v,) for v in VERSIONS
    ]
    assert query_all(
        path,
        "SELECT sum(count) FROM rollup_minute "
        "WHERE series_id IN (SELECT id FROM series WHERE name != '<all>')",
    ) == [(6.0,)]
    assert query_all(path, "PRAGMA journal_mode") == [("wal",)]
