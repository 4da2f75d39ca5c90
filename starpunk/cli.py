"""The ``starpunk`` command: a Flask CLI group bound to the app factory."""

from __future__ import annotations

import sqlite3
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from starpunk import create_app
from starpunk.config import prepare_data_path
from starpunk.credentials import create_token, ensure_password, set_password
from starpunk.db import get_db
from starpunk.errors import StarPunkError
from starpunk.factory import migrate_app_db
from starpunk.monitoring import EXTENSION_KEY as MONITORING
from starpunk.monitoring import init_metrics_db
from starpunk.monitoring.cli import metrics_cli

cli = FlaskGroup(
    name="starpunk",
    create_app=create_app,
    load_dotenv=False,
    help="Manage a StarPunk site. Settings come from STARPUNK_* variables.",
)


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create the data folder and migrate both databases (safe to repeat)."""
    config = current_app.config
    prepare_data_path(config)
    migrate_app_db(config["DATABASE_PATH"])
    version = get_db().execute("SELECT max(version) FROM schema_migrations")
    click.echo(f"Data folder:      {config['DATA_PATH']}")
    click.echo(
        f"App database:     {config['DATABASE_PATH']} (schema {version.fetchone()[0]})"
    )
    monitoring = current_app.extensions[MONITORING]
    path = monitoring.store.path
    if not init_metrics_db(current_app._get_current_object()):
        raise click.ClickException(
            f"the metrics database {str(path)!r} cannot be created or opened "
            "(see the error above). The site would serve without stored "
            "metrics; fix the path or its permissions and run init again."
        )
    click.echo(f"Metrics database: {path}")
    if not monitoring.enabled:
        click.echo(
            "Monitoring is off (STARPUNK_METRICS_ENABLED=0): nothing new is "
            "recorded; the dashboard shows what was stored before."
        )


@click.command("set-password")
@with_appcontext
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input.",
)
def set_password_command(password_stdin: bool) -> None:
    """Set the admin password (asked twice unless --password-stdin)."""
    if password_stdin:
        try:
            line = sys.stdin.buffer.readline()
            password = line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise click.ClickException(
                "the password on standard input is not valid UTF-8 text."
            ) from None
    else:
        password = click.prompt(
            "New admin password", hide_input=True, confirmation_prompt=True
        )
    try:
        set_password(get_db(), password)
    except StarPunkError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("Admin password saved.")
    if current_app.config.get("ADMIN_PASSWORD_HASH"):
        click.echo(
            "Note: STARPUNK_ADMIN_PASSWORD_HASH is set and takes precedence.",
            err=True,
        )


@click.command("ensure-password")
@with_appcontext
def ensure_password_command() -> None:
    """Generate and print an admin password once, if none is set."""
    password = ensure_password(get_db(), current_app.config)
    if password is None:
        click.echo("Admin password already set.")
        return
    click.echo("Generated an admin password; it is shown only this once:")
    click.echo("")
    click.echo(f"    {password}")
    click.echo("")
    click.echo("Change it any time with 'starpunk set-password'.")


@click.command("create-token")
@with_appcontext
@click.argument("name")
@click.option(
    "--scope",
    default="create admin",
    show_default=True,
    help="Space-separated scopes: create (Micropub), admin (admin JSON/CSV).",
)
def create_token_command(name: str, scope: str) -> None:
    """Print a new bearer token named NAME; it is stored hashed and shown once."""
    try:
        token = create_token(get_db(), name, scope)
    except StarPunkError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(token)


def register_commands(group: click.Group) -> None:
    """Add StarPunk's commands to ``group``."""
    for command in (
        init_command,
        set_password_command,
        ensure_password_command,
        create_token_command,
    ):
        group.add_command(command)


register_commands(cli)
cli.add_command(metrics_cli, "metrics")


def main() -> None:
    """Run the ``starpunk`` command; a configuration error ends it cleanly."""
    try:
        cli.main(prog_name="starpunk")
    except StarPunkError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except BrokenPipeError:
        raise
    except sqlite3.Error as exc:
        click.echo(
            f"Error: a database in the data folder cannot be used: {exc}. "
            "Check STARPUNK_DATA_PATH, the files' permissions and free disk space.",
            err=True,
        )
        sys.exit(1)
    except OSError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
