"""Admin password and bearer tokens, as stored (hashed) in the app database."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from starpunk.clock import format_time, utc_now
from starpunk.errors import InvalidInput

PASSWORD_SETTING = "admin_password_hash"
MIN_PASSWORD_LENGTH = 8
SCOPES = ("create", "admin")
DEFAULT_SCOPE = "create admin"
TOKEN_BYTES = 32


@dataclass(frozen=True)
class Token:
    """A stored bearer token (never the token itself)."""

    id: int
    name: str
    scopes: frozenset[str]


def password_hash(db: sqlite3.Connection, config: Mapping[str, Any]) -> str | None:
    """Return the admin password hash: ADMIN_PASSWORD_HASH wins over the database."""
    if config.get("ADMIN_PASSWORD_HASH"):
        return config["ADMIN_PASSWORD_HASH"]
    row = db.execute(
        "SELECT value FROM settings WHERE key = ?", (PASSWORD_SETTING,)
    ).fetchone()
    return row[0] if row else None


def check_password(
    db: sqlite3.Connection, config: Mapping[str, Any], password: str
) -> bool:
    """Return True when ``password`` is the admin password."""
    stored = password_hash(db, config)
    if stored is None:
        return False
    return check_password_hash(stored, password)


def set_password(db: sqlite3.Connection, password: str) -> None:
    """Store the hash of a new admin password; raise InvalidInput if too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long."
        )
    db.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (PASSWORD_SETTING, generate_password_hash(password)),
    )


def ensure_password(db: sqlite3.Connection, config: Mapping[str, Any]) -> str | None:
    """Create a random admin password if none exists; return it, or None if set.

    The insert is a single ``INSERT OR IGNORE``, so concurrent callers create
    at most one password.
    """
    if config.get("ADMIN_PASSWORD_HASH"):
        return None
    password = secrets.token_urlsafe(15)
    cursor = db.execute(
        "INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)",
        (PASSWORD_SETTING, generate_password_hash(password)),
    )
    return password if cursor.rowcount == 1 else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def parse_scopes(scope: str) -> frozenset[str]:
    """Split a space-separated scope string; raise InvalidInput for unknown scopes."""
    scopes = frozenset(scope.split())
    unknown = scopes - set(SCOPES)
    if not scopes or unknown:
        raise InvalidInput(
            f"Unknown or empty scope {scope!r}; use any of {', '.join(SCOPES)}."
        )
    return scopes


def create_token(db: sqlite3.Connection, name: str, scope: str = DEFAULT_SCOPE) -> str:
    """Store a new token named ``name`` and return it; only its hash is kept."""
    name = name.strip()
    if not name:
        raise InvalidInput("A token needs a name, such as the client that uses it.")
    scopes = parse_scopes(scope)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.execute(
        "INSERT INTO tokens (name, token_hash, scope, created_at) VALUES (?, ?, ?, ?)",
        (name, _digest(token), " ".join(sorted(scopes)), format_time(utc_now())),
    )
    return token


def verify_token(db: sqlite3.Connection, token: str) -> Token | None:
    """Return the stored token matching ``token``, or None if unknown or revoked."""
    if not token:
        return None
    digest = _digest(token)
    row = db.execute(
        "SELECT id, name, scope, token_hash FROM tokens"
        " WHERE token_hash = ? AND revoked_at IS NULL",
        (digest,),
    ).fetchone()
    if row is None or not hmac.compare_digest(row["token_hash"], digest):
        return None
    return Token(id=row["id"], name=row["name"], scopes=frozenset(row["scope"].split()))
