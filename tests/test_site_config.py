"""Configuration: defaults, environment variables and start-up validation."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from starpunk import create_app
from starpunk.config import load_config
from starpunk.errors import ConfigError
from starpunk.resources import resource_dir


def test_defaults_fill_every_setting(tmp_path: Path) -> None:
    config = load_config({"DATA_PATH": str(tmp_path)}, environ={})

    assert config["SITE_NAME"] == "StarPunk"
    assert config["SITE_URL"] == "http://127.0.0.1:8000"
    assert config["METRICS_DB"] == str(tmp_path / "metrics.db")
    assert config["METRICS_FLUSH_SECONDS"] == 10.0


def test_environment_variables_are_read_in_the_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STARPUNK_DATA_PATH", str(tmp_path / "site"))
    monkeypatch.setenv("STARPUNK_SITE_NAME", "Field Notes")
    monkeypatch.setenv("STARPUNK_SITE_URL", "https://notes.example/")
    monkeypatch.setenv("STARPUNK_METRICS_FLUSH_SECONDS", "2.5")

    app = create_app({"TESTING": True})

    assert app.config["SITE_NAME"] == "Field Notes"
    assert app.config["SITE_URL"] == "https://notes.example"
    assert app.config["METRICS_FLUSH_SECONDS"] == "2.5"
    assert app.config["DATABASE_PATH"] == str(tmp_path / "site" / "starpunk.db")
    assert (tmp_path / "site" / "starpunk.db").exists()


def test_config_argument_overrides_environment(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STARPUNK_SITE_NAME", "From env")

    assert make_app(SITE_NAME="From test").config["SITE_NAME"] == "From test"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STARPUNK_METRICS_FLUSH_SECONDS", "soon"),
        ("STARPUNK_METRICS_FLUSH_SECONDS", "-1"),
        ("STARPUNK_METRICS_ENABLED", "maybe"),
        ("STARPUNK_METRICS_SAMPLE_RATE", '{"db": 2}'),
        ("STARPUNK_METRICS_BUFFER_MAX", "12.5"),
        ("STARPUNK_SITE_URL", "notes.example"),
        ("STARPUNK_SITE_NAME", "  "),
        ("STARPUNK_SECRET_KEY", "short"),
        ("STARPUNK_ADMIN_PASSWORD_HASH", "plaintext"),
        ("STARPUNK_NOTES_PER_PAGE", "0"),
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("STARPUNK_DATA_PATH", str(tmp_path))
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError, match=variable):
        create_app()


def test_bad_config_key_is_named_as_a_config_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config key METRICS_FLUSH_SECONDS"):
        create_app({"DATA_PATH": str(tmp_path), "METRICS_FLUSH_SECONDS": "x"})


def test_unusable_data_path_names_the_variable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    with pytest.raises(ConfigError, match="STARPUNK_DATA_PATH"):
        create_app({"DATA_PATH": str(blocker / "data")})


def test_a_data_path_that_is_a_file_is_named_as_such(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    with pytest.raises(ConfigError, match="is a file, not a folder"):
        create_app({"DATA_PATH": str(blocker)})


def test_unknown_starpunk_variable_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STARPUNK_METRICS_SAMPLING_RATE", "0.5")

    load_config({"DATA_PATH": str(tmp_path)})

    assert "STARPUNK_METRICS_SAMPLING_RATE" in caplog.text


def test_secret_key_is_generated_once_with_private_mode(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    first = make_app()
    second = make_app()

    key_file = tmp_path / "data" / "secret_key"
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_configured_secret_key_wins(make_app: Callable[..., Flask]) -> None:
    app = make_app(SECRET_KEY="a-configured-secret-key")

    assert app.secret_key == "a-configured-secret-key"


def test_monitoring_is_attached(app: Flask) -> None:
    assert app.extensions["starpunk.monitoring"] is not None


def test_resources_are_found() -> None:
    assert (resource_dir("templates") / "base.html").is_file()
    assert (resource_dir("migrations") / "app" / "0001_initial.sql").is_file()
