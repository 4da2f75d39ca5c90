"""Versioned SQL migrations, applied once even when several processes start."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from metrics_store.sketch import register_sql_functions

logger = logging.getLogger(__name__)


def enable_wal(conn: sqlite3.Connection, timeout: float = 5.0) -> None:
    """Switch ``conn``'s database to WAL, waiting out other processes doing so.

    Changing the journal mode needs the database to itself, and SQLite reports
    "database is locked" at once instead of calling the busy handler when
    another connection holds it (several workers starting together). Retry
    for up to ``timeout`` seconds, then let the error through.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            message = str(exc)
            busy = "locked" in message or "busy" in message
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def pending_migrations(directory: Path) -> list[tuple[int, str, Path]]:
    """Return ``(version, name, path)`` for every ``NNNN_name.sql`` file, in order."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        prefix, _, name = path.stem.partition("_")
        if not prefix.isdigit():
            raise ValueError(
                f"migration file {path.name!r} must be named NNNN_description.sql"
            )
        found.append((int(prefix), name, path))
    return found


def apply_migrations(conn: sqlite3.Connection, directory: Path) -> list[int]:
    """Apply migrations from ``directory`` not yet recorded; return the versions run.

    The check and the changes happen under ``BEGIN IMMEDIATE``, so when several
    processes start together exactly one applies each version and the others
    wait on the write lock, then see it recorded.
    """
    migrations = pending_migrations(directory)
    # Data migrations merge sketches in SQL, whoever opened the connection.
    register_sql_functions(conn)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL NOT NULL)"
    )
    applied: list[int] = []
    for version, name, path in migrations:
        done = conn.execute(
            "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
        ).fetchone()
        if done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone()
            if not done:
                for statement in split_statements(path.read_text(encoding="utf-8")):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied) "
                    "VALUES (?, ?, strftime('%s', 'now'))",
                    (version, name),
                )
                applied.append(version)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    if applied:
        logger.info("applied metrics migrations %s", applied)
    return applied


def split_statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (executescript would commit).

    Triggers stay whole and comment-only text is dropped. Raises ValueError
    when the script ends inside a statement.
    """
    statements = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if not _only_comments(pending):
                statements.append(pending.strip())
            pending = ""
    if not _only_comments(pending):
        raise ValueError(f"Incomplete SQL statement at end of script: {pending!r}")
    return statements


def _only_comments(text: str) -> bool:
    return all(
        not line.strip() or line.strip().startswith("--") for line in text.splitlines()
    )
