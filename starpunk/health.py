"""The /health endpoint: is the app database answering?"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from starpunk.auth import admin_required
from starpunk.db import get_db

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def database_ok() -> bool:
    """Return True when the app database opens and its schema can be read."""
    try:
        get_db().execute("SELECT count(*) FROM schema_migrations").fetchone()
    except sqlite3.Error as exc:
        # Log at the first failure of this process only; a probe polls often.
        if not current_app.extensions.get("starpunk.health_failed"):
            logger.error("App database health check failed: %s", exc)
            current_app.extensions["starpunk.health_failed"] = True
        return False
    current_app.extensions.pop("starpunk.health_failed", None)
    return True


def monitoring_health() -> dict[str, Any]:
    """Return the monitoring extension's own health report, if it has one."""
    monitoring = current_app.extensions.get("starpunk.monitoring")
    report = getattr(monitoring, "health", None)
    return report() if callable(report) else {}


@admin_required(api=True)
def detailed_health() -> dict[str, Any]:
    """Return details that only the admin may see."""
    return {"monitoring": monitoring_health()}


@bp.get("/health")
def health() -> tuple[Response, int]:
    """Answer 200 with ``{"status": "ok"}`` or 503 when the database fails."""
    g.wants_json = True
    healthy = database_ok()
    body: dict[str, Any] = {
        "status": "ok" if healthy else "error",
        "database": "ok" if healthy else "unavailable",
    }
    if request.args.get("detailed") not in (None, "", "0"):
        try:
            body.update(detailed_health())
        except sqlite3.Error:
            # A bearer token cannot be checked while the database is down.
            if healthy:
                raise
    return jsonify(body), 200 if healthy else 503
