"""Login rate limiting: failures per client, kept in the app database.

Keeping failures in the database (not in memory) makes the limit hold across
every worker process and across restarts.
"""

from __future__ import annotations

import math
import sqlite3
import time

MAX_FAILURES = 5
WINDOW_SECONDS = 300


def retry_after(db: sqlite3.Connection, client: str, now: float | None = None) -> int:
    """Return seconds ``client`` must wait before trying again (0: may try now)."""
    now = time.time() if now is None else now
    rows = db.execute(
        "SELECT failed_at FROM login_failures WHERE client = ? AND failed_at > ?"
        " ORDER BY failed_at DESC LIMIT ?",
        (client, now - WINDOW_SECONDS, MAX_FAILURES),
    ).fetchall()
    if len(rows) < MAX_FAILURES:
        return 0
    # The oldest of the last MAX_FAILURES failures has to leave the window.
    oldest = rows[-1][0]
    return max(1, math.ceil(oldest + WINDOW_SECONDS - now))


def record_failure(
    db: sqlite3.Connection, client: str, now: float | None = None
) -> None:
    """Remember a failed login of ``client`` and forget failures out of the window."""
    now = time.time() if now is None else now
    db.execute(
        "DELETE FROM login_failures WHERE failed_at <= ?", (now - WINDOW_SECONDS,)
    )
    db.execute(
        "INSERT INTO login_failures (client, failed_at) VALUES (?, ?)", (client, now)
    )


def clear_failures(db: sqlite3.Connection, client: str) -> None:
    """Forget the failures of ``client`` after a successful login."""
    db.execute("DELETE FROM login_failures WHERE client = ?", (client,))
