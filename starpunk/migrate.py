"""Versioned SQL migrations, applied once each and safe under concurrent start-up."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from metrics_store import migrate as metrics_migrate
from metrics_store.migrate import enable_wal
from starpunk.db import BUSY_TIMEOUT_MS, transaction
from starpunk.errors import StarPunkError

logger = logging.getLogger(__name__)

SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
)
"""


def migration_files(directory: Path) -> list[Path]:
    """Return the ``NNNN_name.sql`` files of ``directory`` in version order."""
    files = sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    if not files:
        raise StarPunkError(f"No migrations found in {str(directory)!r}.")
    return files


def split_statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (triggers stay whole)."""
    try:
        return metrics_migrate.split_statements(script)
    except ValueError as exc:
        raise StarPunkError(str(exc)) from None


def apply_migrations(connection: sqlite3.Connection, directory: Path) -> list[str]:
    """Apply every migration of ``directory`` not yet recorded; return their names.

    The whole run holds the write lock (``BEGIN IMMEDIATE``) and re-reads the
    applied versions inside it, so processes starting together apply each
    migration exactly once. ``connection`` must be in autocommit mode.
    """
    enable_wal(connection, BUSY_TIMEOUT_MS / 1000)
    connection.execute(SCHEMA_TABLE)
    files = migration_files(directory)
    applied: list[str] = []

    with transaction(connection):
        done = {
            row[0]
            for row in connection.execute("SELECT version FROM schema_migrations")
        }
        for path in files:
            version = path.stem
            if version in done:
                continue
            # executescript() would commit first and drop the lock, so run
            # statement by statement inside this transaction.
            for statement in split_statements(path.read_text(encoding="utf-8")):
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations (version) VALUES (?)", (version,)
            )
            applied.append(version)

    for version in applied:
        logger.info("Applied migration %s to %s", version, directory.name)
    return applied
