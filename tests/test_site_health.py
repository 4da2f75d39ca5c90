"""The /health endpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient


def test_health_ok(client: FlaskClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}
    assert "monitoring" not in response.get_json()


def break_database(app: Flask) -> None:
    path = Path(app.config["DATABASE_PATH"])
    for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        extra.unlink(missing_ok=True)
    path.write_bytes(b"this is not an sqlite database" * 200)


def test_health_503_when_database_is_unusable(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    break_database(app)

    first = client.get("/health")
    second = client.get("/health")

    assert first.status_code == second.status_code == 503
    assert first.get_json() == {"status": "error", "database": "unavailable"}
    assert caplog.text.count("health check failed") == 1


def test_health_503_when_database_is_missing(app: Flask, client: FlaskClient) -> None:
    path = Path(app.config["DATABASE_PATH"])
    path.unlink()
    path.mkdir()

    assert client.get("/health").status_code == 503


def test_detailed_health_requires_admin(client: FlaskClient) -> None:
    response = client.get("/health?detailed=1")

    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_detailed_health_rejects_wrong_token(client: FlaskClient) -> None:
    response = client.get(
        "/health?detailed=1", headers={"Authorization": "Bearer wrong"}
    )

    assert response.status_code == 401


def test_detailed_health_with_token(client: FlaskClient, token: str) -> None:
    response = client.get(
        "/health?detailed=1", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200
    assert response.get_json()["monitoring"]["enabled"] is False


def test_detailed_health_with_session_and_monitoring_report(
    app: Flask,
    client: FlaskClient,
    login: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monitoring = app.extensions["starpunk.monitoring"]
    monkeypatch.setattr(monitoring, "health", lambda: {"buffered": 3}, raising=False)
    login()

    response = client.get("/health?detailed=1")

    assert response.status_code == 200
    assert response.get_json()["monitoring"] == {"buffered": 3}


def test_detailed_health_while_database_is_down(
    app: Flask, client: FlaskClient, token: str
) -> None:
    break_database(app)

    response = client.get(
        "/health?detailed=1", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 503
    assert "monitoring" not in response.get_json()
