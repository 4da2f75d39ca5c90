"""StarPunk: a minimal single-user IndieWeb CMS with built-in monitoring."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

from flask import Flask

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the StarPunk app from ``STARPUNK_*`` variables, overridden by ``config``.

    Creates the data folder, the secret key and the app database schema when
    missing. Raises ConfigError, naming the variable, for a bad setting.
    """
    # Imported here so that importing the package (for the gunicorn config or
    # the CLI) stays cheap and reads no configuration.
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

    settings = load_config(config, os.environ)
    data_path = prepare_data_path(settings)
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = load_or_create_secret_key(data_path)
    settings["DATABASE_PATH"] = str(app_db_path(settings))

    app = Flask(__name__, template_folder=str(resource_dir("templates")))
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
        SESSION_COOKIE_NAME="starpunk_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["SITE_URL"].startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(days=14),
    )
    app.config.update(settings)

    connection = db.open_connection(app.config["DATABASE_PATH"])
    try:
        apply_migrations(connection, resource_dir("migrations") / "app")
    finally:
        connection.close()

    db.init_app(app)
    register_error_handlers(app)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"site_name": app.config["SITE_NAME"]})
    for blueprint in (public.bp, feeds.bp, health.bp, admin.bp, micropub.bp):
        app.register_blueprint(blueprint)

    Monitoring(app)
    register_dashboard(app, admin_required(), admin_api_required)
    return app
