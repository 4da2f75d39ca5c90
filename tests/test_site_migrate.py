"""App database migrations and the transaction helper."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from starpunk.db import open_connection, transaction
from starpunk.errors import StarPunkError
from starpunk.migrate import apply_migrations, split_statements


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    """Two migrations that fail loudly if either is applied twice."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_things.sql").write_text(
        "-- things we count\nCREATE TABLE things (id INTEGER PRIMARY KEY);\n"
        "INSERT INTO things (id) VALUES (1);\n"
    )
    (folder / "0002_audit.sql").write_text(
        "CREATE TABLE audit (thing INTEGER);\n"
        "CREATE TRIGGER things_audit AFTER INSERT ON things BEGIN\n"
        "  INSERT INTO audit (thing) VALUES (new.id);\n"
        "END;\n"
    )
    return folder


def test_migrations_apply_once(tmp_path: Path, migrations: Path) -> None:
    connection = open_connection(tmp_path / "app.db")

    first = apply_migrations(connection, migrations)
    second = apply_migrations(connection, migrations)

    assert first == ["0001_things", "0002_audit"]
    assert second == []
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_concurrent_start_up_applies_each_migration_once(
    tmp_path: Path, migrations: Path
) -> None:
    path = tmp_path / "app.db"
    start = threading.Barrier(8)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def start_worker() -> None:
        connection = open_connection(path)
        try:
            start.wait()
            results.append(apply_migrations(connection, migrations))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=start_worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(results, key=len) == [[]] * 7 + [["0001_things", "0002_audit"]]
    connection = open_connection(path)
    assert (
        connection.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 2
    )
    connection.close()


def test_failed_migration_leaves_nothing_behind(
    tmp_path: Path, migrations: Path
) -> None:
    (migrations / "0003_broken.sql").write_text(
        "CREATE TABLE half (id INTEGER);\nTHIS IS NOT SQL;\n"
    )
    connection = open_connection(tmp_path / "app.db")

    with pytest.raises(sqlite3.OperationalError):
        apply_migrations(connection, migrations)

    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "things" not in tables and "half" not in tables
    assert (
        connection.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 0
    )
    connection.close()


def test_empty_migration_folder_is_an_error(tmp_path: Path) -> None:
    connection = open_connection(tmp_path / "app.db")

    with pytest.raises(StarPunkError, match="No migrations"):
        apply_migrations(connection, tmp_path)
    connection.close()


def test_split_statements_keeps_triggers_whole() -> None:
    script = (
        "CREATE TABLE a (x);\n-- comment\n"
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  SELECT 1;\n  SELECT 2;\nEND;\n"
    )

    statements = split_statements(script)

    assert len(statements) == 2
    assert statements[1].endswith("END;")


def test_split_statements_rejects_unfinished_statement() -> None:
    with pytest.raises(StarPunkError, match="Incomplete"):
        split_statements("CREATE TABLE a (x);\nINSERT INTO a VALUES (1)")


def test_transaction_commits(tmp_path: Path) -> None:
    connection = open_connection(tmp_path / "app.db")
    connection.execute("CREATE TABLE t (x)")

    with transaction(connection):
        connection.execute("INSERT INTO t VALUES (1)")
        connection.execute("INSERT INTO t VALUES (2)")

    assert connection.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    connection.close()


def test_transaction_rolls_back_and_reraises(tmp_path: Path) -> None:
    connection = open_connection(tmp_path / "app.db")
    connection.execute("CREATE TABLE t (x)")

    with pytest.raises(KeyError), transaction(connection):
        connection.execute("INSERT INTO t VALUES (1)")
        raise KeyError("boom")

    assert connection.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    assert not connection.in_transaction
    connection.close()
