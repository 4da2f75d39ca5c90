"""The gunicorn configuration module and its monitoring hooks."""

from __future__ import annotations

import pytest

from starpunk import gunicorn_conf, monitoring


def test_settings() -> None:
    assert gunicorn_conf.graceful_timeout >= 10
    assert gunicorn_conf.accesslog is None


def test_hooks_call_monitoring_when_available(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(
        monitoring, "on_worker_start", lambda w: calls.append(("start", w))
    )
    monkeypatch.setattr(
        monitoring, "on_worker_exit", lambda w: calls.append(("exit", w))
    )

    gunicorn_conf.post_worker_init("worker")
    gunicorn_conf.worker_exit("server", "worker")

    assert calls == [("start", "worker"), ("exit", "worker")]
