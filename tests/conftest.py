"""Shared fixtures: an app on a temporary data folder, a client, login and tokens."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from metrics_store.store import MetricsStore
from starpunk import create_app
from starpunk.credentials import PASSWORD_SETTING, create_token
from starpunk.db import open_connection

ADMIN_PASSWORD = "correct horse battery"
# A cheap hash keeps the suite fast; production hashes use werkzeug's default.
ADMIN_PASSWORD_HASH = generate_password_hash(ADMIN_PASSWORD, "pbkdf2:sha256:1000")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run every test without STARPUNK_* variables from the outside."""
    for name in list(os.environ):
        if name.startswith("STARPUNK_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    """Return a factory building apps on ``tmp_path`` with extra config."""

    def build(**overrides: object) -> Flask:
        config = {
            "DATA_PATH": str(tmp_path / "data"),
            "METRICS_ENABLED": "0",
            "TESTING": True,
        }
        config.update(overrides)
        return create_app(config)

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The app with an admin password set."""
    application = make_app()
    connection = open_connection(application.config["DATABASE_PATH"])
    try:
        connection.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?)",
            (PASSWORD_SETTING, ADMIN_PASSWORD_HASH),
        )
    finally:
        connection.close()
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()


def csrf_from(html: str) -> str:
    """Return the CSRF token embedded in a page's form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def login(client: FlaskClient) -> Callable[..., str]:
    """Return a function that logs ``client`` in and returns its CSRF token."""

    def do_login(password: str = ADMIN_PASSWORD) -> str:
        token = csrf_from(client.get("/admin/login").get_data(as_text=True))
        response = client.post(
            "/admin/login", data={"password": password, "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return csrf_from(client.get("/admin/").get_data(as_text=True))

    return do_login


@pytest.fixture
def make_token(app: Flask) -> Callable[..., str]:
    """Return a function creating a bearer token (default scopes create and admin)."""

    def build(name: str = "test client", scope: str = "create admin") -> str:
        connection = open_connection(app.config["DATABASE_PATH"])
        try:
            return create_token(connection, name, scope)
        finally:
            connection.close()

    return build


@pytest.fixture
def token(make_token: Callable[..., str]) -> str:
    """A bearer token with the create and admin scopes."""
    return make_token()


@pytest.fixture
def db(app: Flask) -> Iterator[sqlite3.Connection]:
    """A connection to the app database, for arranging and checking data."""
    connection = open_connection(app.config["DATABASE_PATH"])
    yield connection
    connection.close()


@pytest.fixture
def db_factory() -> Iterator[Callable[[Flask], sqlite3.Connection]]:
    """Return a function opening the app database of any app; closed afterwards."""
    opened: list[sqlite3.Connection] = []

    def open_for(application: Flask) -> sqlite3.Connection:
        connection = open_connection(application.config["DATABASE_PATH"])
        opened.append(connection)
        return connection

    yield open_for
    for connection in opened:
        connection.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a test's metrics database lives (not created yet)."""
    return tmp_path / "metrics.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[MetricsStore]:
    """A metrics store on :func:`db_path`, closed after the test."""
    handle = MetricsStore(db_path)
    yield handle
    handle.close()
