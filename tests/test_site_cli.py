"""The starpunk command, run through click's test runner."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo

from starpunk import cli as cli_module
from starpunk.cli import cli, main
from starpunk.credentials import check_password, verify_token


@pytest.fixture
def run(make_app: Callable[..., Flask]) -> Callable[..., Result]:
    """Return a function running ``starpunk ARGS`` against a fresh app."""
    app = make_app()

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(
            cli, list(args), input=input, obj=ScriptInfo(create_app=lambda: app)
        )

    invoke.app = app  # type: ignore[attr-defined]
    return invoke


@pytest.fixture
def app_db(run: Callable[..., Result], db_factory) -> sqlite3.Connection:
    """A connection to the database the commands of ``run`` work on."""
    return db_factory(run.app)  # type: ignore[attr-defined]


def test_init_is_idempotent(
    run: Callable[..., Result], app_db: sqlite3.Connection
) -> None:
    first = run("init")
    second = run("init")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "0001_initial" in second.output
    versions = app_db.execute("SELECT version FROM schema_migrations")
    assert [tuple(row) for row in versions] == [("0001_initial",)]


def test_init_creates_data_folder_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "fresh" / "data"
    monkeypatch.setenv("STARPUNK_DATA_PATH", str(data))
    monkeypatch.setenv("STARPUNK_METRICS_ENABLED", "0")

    result = CliRunner().invoke(cli, ["init"])

    assert result.exit_code == 0, result.output
    assert (data / "starpunk.db").is_file()
    assert (data / "secret_key").is_file()
    assert "Monitoring is off" in result.output


def test_init_fails_when_the_metrics_db_cannot_be_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STARPUNK_DATA_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("STARPUNK_METRICS_DB", str(blocker / "metrics.db"))

    result = CliRunner().invoke(cli, ["init"])

    assert result.exit_code == 1
    assert "cannot be created or opened" in result.output
    assert str(blocker / "metrics.db") in result.output


def test_init_migrates_the_metrics_db_too(
    run: Callable[..., Result], tmp_path: Path
) -> None:
    result = run("init")

    assert result.exit_code == 0, result.output
    assert "Metrics database: " in result.output
    data_path = run.app.config["DATA_PATH"]  # type: ignore[attr-defined]
    conn = sqlite3.connect(data_path + "/metrics.db")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert {"series", "rollup_minute", "rollup_hour", "events"} <= tables


def test_set_password_from_stdin(
    run: Callable[..., Result], app_db: sqlite3.Connection
) -> None:
    result = run("set-password", "--password-stdin", input="a long secret\n")

    assert result.exit_code == 0, result.output
    assert check_password(app_db, {}, "a long secret")
    assert not check_password(app_db, {}, "a long secret\n")


def test_set_password_prompts_twice(
    run: Callable[..., Result], app_db: sqlite3.Connection
) -> None:
    result = run("set-password", input="prompted pw\nprompted pw\n")

    assert result.exit_code == 0, result.output
    assert result.output.count("password") >= 2
    assert check_password(app_db, {}, "prompted pw")


def test_set_password_rejects_short_password(run: Callable[..., Result]) -> None:
    result = run("set-password", "--password-stdin", input="short\n")

    assert result.exit_code == 1
    assert "at least 8 characters" in result.output


def test_ensure_password_prints_once(
    run: Callable[..., Result], app_db: sqlite3.Connection
) -> None:
    first = run("ensure-password")
    second = run("ensure-password")

    assert first.exit_code == second.exit_code == 0
    password = first.output.split("once:")[1].split()[0]
    assert check_password(app_db, {}, password)
    assert password not in second.output
    assert "already set" in second.output


def test_ensure_password_respects_existing_password(
    run: Callable[..., Result], app_db: sqlite3.Connection
) -> None:
    run("set-password", "--password-stdin", input="chosen password\n")

    result = run("ensure-password")

    assert "already set" in result.output
    assert check_password(app_db, {}, "chosen password")


def test_create_token_prints_a_working_token(
    run: Callable[..., Result], app_db: sqlite3.Connection
) -> None:
    result = run("create-token", "my phone")

    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert len(token) >= 40
    stored = app_db.execute("SELECT name, token_hash, scope FROM tokens").fetchone()
    assert stored["name"] == "my phone"
    assert token not in stored["token_hash"]
    assert verify_token(app_db, token).scopes == {"create", "admin"}


def test_create_token_with_scope(
    run: Callable[..., Result], app_db: sqlite3.Connection
) -> None:
    result = run("create-token", "poster", "--scope", "create")

    assert verify_token(app_db, result.output.strip()).scopes == {"create"}


def test_create_token_rejects_unknown_scope(run: Callable[..., Result]) -> None:
    result = run("create-token", "x", "--scope", "root")

    assert result.exit_code == 1
    assert "Unknown or empty scope" in result.output


def test_main_reports_config_error_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("STARPUNK_DATA_PATH", str(tmp_path))
    monkeypatch.setenv("STARPUNK_METRICS_FLUSH_SECONDS", "often")
    monkeypatch.setattr("sys.argv", ["starpunk", "init"])

    with pytest.raises(SystemExit) as exit_info:
        main()

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "STARPUNK_METRICS_FLUSH_SECONDS" in error
    assert "Traceback" not in error


def test_metrics_group_is_part_of_the_cli() -> None:
    group = cli_module.cli.commands["metrics"]

    assert {"export", "rollup", "prune", "stats"} <= set(group.commands)


def test_set_password_rejects_stdin_that_is_not_utf8(
    run: Callable[..., Result], app_db: sqlite3.Connection
) -> None:
    result = run("set-password", "--password-stdin", input=b"\xff\xfe" * 8 + b"\n")

    assert result.exit_code == 1
    assert "not valid UTF-8" in result.output
    assert app_db.execute("SELECT count(*) FROM settings").fetchone()[0] == 0


def test_main_reports_an_unusable_database_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "starpunk.db").write_bytes(b"not a database at all" * 200)
    monkeypatch.setenv("STARPUNK_DATA_PATH", str(tmp_path))
    monkeypatch.setattr("sys.argv", ["starpunk", "init"])

    with pytest.raises(SystemExit) as exit_info:
        main()

    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert "cannot be used" in error and "not a database" in error
    assert "Traceback" not in error
