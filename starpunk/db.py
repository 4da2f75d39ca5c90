"""The app database connection: opened once per request, closed at teardown."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g

from starpunk import monitoring
from starpunk.monitoring.sql_timing import execute_untimed

BUSY_TIMEOUT_MS = 5000


def open_connection(path: str | Path) -> sqlite3.Connection:
    """Open the app database in autocommit mode, with rows as ``sqlite3.Row``.

    The connection runs in autocommit mode (``isolation_level=None``); writes of
    more than one statement go through :func:`transaction`. ``timeout`` is
    SQLite's busy timeout, so no ``PRAGMA busy_timeout`` is needed.
    """
    connection = monitoring.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
    )
    connection.row_factory = sqlite3.Row
    execute_untimed(connection, "PRAGMA foreign_keys = ON")
    return connection


def get_db() -> sqlite3.Connection:
    """Return this request's app database connection, opening it on first use."""
    if "db" not in g:
        g.db = open_connection(current_app.config["DATABASE_PATH"])
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    """Close this request's connection, if one was opened."""
    connection = g.pop("db", None)
    if connection is not None:
        connection.close()


def init_app(app: Flask) -> None:
    """Close the per-request connection when each app context ends."""
    app.teardown_appcontext(close_db)


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one write transaction; commit, or roll back and re-raise.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so reads made inside the
    block (such as a slug collision check) stay valid until the commit.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
