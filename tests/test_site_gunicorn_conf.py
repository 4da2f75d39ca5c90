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


def test_a_bad_setting_stops_gunicorn_with_one_line(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "STARPUNK_DATA_PATH": str(tmp_path),
        "STARPUNK_METRICS_RETAIN_MINUTE_DAYS": "0.001",
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    result = subprocess.run(
        [
            gunicorn,
            "--config",
            "python:starpunk.gunicorn_conf",
            "--bind",
            "127.0.0.1:0",
            "starpunk:create_app()",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "Error: STARPUNK_METRICS_RETAIN_MINUTE_DAYS must be between" in result.stderr
    assert "Traceback" not in result.stderr


def test_good_settings_pass_the_start_up_check(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("STARPUNK_DATA_PATH", str(tmp_path))
    assert gunicorn_conf.on_starting(None) is None  # no SystemExit
