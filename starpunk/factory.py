"""Assemble the Flask app: settings, data folder, database, blueprints, monitoring."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from flask import Flask, Response, request

from starpunk import admin, db, feeds, health, micropub, public
from starpunk.auth import admin_api_required, admin_required
from starpunk.config import (
    MAX_BODY_BYTES,
    app_db_path,
    load_config,
    load_or_create_secret_key,
    prepare_data_path,
)
from starpunk.csrf import csrf_token
from starpunk.errorhandlers import register_error_handlers
from starpunk.migrate import apply_migrations
from starpunk.monitoring import Monitoring
from starpunk.monitoring.dashboard import register_dashboard
from starpunk.resources import resource_dir

BLUEPRINTS = (public.bp, feeds.bp, health.bp, admin.bp, micropub.bp)

# Every answer: no MIME sniffing, no framing by other sites (clickjacking on
# the admin forms), and no full URLs leaked to other sites in Referer.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def build_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Return a configured app; see :func:`starpunk.create_app`."""
    settings = site_settings(overrides)
    app = Flask("starpunk", template_folder=str(resource_dir("templates")))
    app.config.update(flask_settings(settings["SITE_URL"]))
    app.config.update(settings)

    migrate_app_db(app.config["DATABASE_PATH"])
    db.init_app(app)
    register_error_handlers(app)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"site_name": app.config["SITE_NAME"]})
    app.after_request(add_security_headers)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

    Monitoring(app)
    register_dashboard(app, admin_required(), admin_api_required)
    return app


# Admin pages and data: only this site's own scripts, styles and forms, and
# nothing kept in shared or browser caches.
ADMIN_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' "
        "'unsafe-inline'; script-src 'self'; form-action 'self'; "
        "frame-ancestors 'self'; base-uri 'self'"
    ),
    "Cache-Control": "no-store",
}


def add_security_headers(response: Response) -> Response:
    """Set :data:`SECURITY_HEADERS`, and :data:`ADMIN_HEADERS` on admin answers.

    Headers a view set itself are kept.
    """
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/admin") or request.args.get("detailed"):
        for name, value in ADMIN_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def site_settings(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Read and validate settings, prepare the data folder and the secret key."""
    settings = load_config(overrides, os.environ)
    data_path = prepare_data_path(settings)
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = load_or_create_secret_key(data_path)
    settings["DATABASE_PATH"] = str(app_db_path(settings))
    return settings


def flask_settings(site_url: str) -> dict[str, Any]:
    """Return Flask's own settings: body limits and session cookie flags."""
    return {
        "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,
        "MAX_FORM_MEMORY_SIZE": MAX_BODY_BYTES,
        "SESSION_COOKIE_NAME": "starpunk_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": site_url.startswith("https://"),
        "PERMANENT_SESSION_LIFETIME": timedelta(days=14),
    }


def migrate_app_db(path: str) -> list[str]:
    """Bring the app database at ``path`` to the latest schema."""
    connection = db.open_connection(path)
    try:
        return apply_migrations(connection, resource_dir("migrations") / "app")
    finally:
        connection.close()
