"""``starpunk metrics``: export, roll up, prune and inspect the metrics database."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from metrics_store.csv_writer import iter_csv
from metrics_store.errors import QueryError
from metrics_store.queries import iter_points, open_reader
from metrics_store.ranges import KINDS, PRESETS, RESOLUTIONS, parse_query
from metrics_store.retention import RetentionPolicy, count_expired, prune
from metrics_store.stats import store_stats
from metrics_store.store import MetricsStore
from starpunk.errors import ConfigError
from starpunk.monitoring.formatting import format_bytes, format_time
from starpunk.monitoring.settings import parse_metrics_settings

EXTENSION = "starpunk.monitoring"


class MetricsGroup(AppGroup):
    """Its commands report an unusable database or output file in one line."""

    def command(self, *args, **kwargs):
        wrap = super().command(*args, **kwargs)
        return lambda callback: wrap(_plain_errors(callback))


def _plain_errors(callback: Callable) -> Callable:
    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except BrokenPipeError:
            raise
        except sqlite3.Error as error:
            raise click.ClickException(
                f"the metrics database {str(_store().path)!r} cannot be used: {error}. "
                "Check the file, its folder's permissions and free disk space."
            ) from None
        except OSError as error:
            raise click.ClickException(str(error)) from None

    return run


metrics_cli = MetricsGroup(
    "metrics", help="Export, roll up, prune and inspect the metrics database."
)


@metrics_cli.command("export")
@click.option("--from", "start", metavar="ISO", help="Start, ISO 8601 (UTC if naive).")
@click.option("--to", "end", metavar="ISO", help="End, ISO 8601; default now.")
@click.option(
    "--range",
    "preset",
    type=click.Choice(list(PRESETS)),
    help="A range ending now, instead of --from/--to; default 24h.",
)
@click.option(
    "--resolution",
    type=click.Choice(RESOLUTIONS),
    default="auto",
    show_default=True,
    help="Bucket width; auto is minute up to 6 hours, hour beyond.",
)
@click.option("--kind", type=click.Choice(KINDS), help="Only series of this kind.")
@click.option("--name", help="Only series with this exact name.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
    default="-",
    show_default=True,
    help="File to write; - is standard output.",
)
def export_command(
    start: str | None,
    end: str | None,
    preset: str | None,
    resolution: str,
    kind: str | None,
    name: str | None,
    output: str,
) -> None:
    """Write rollups as CSV (RFC 4180, UTF-8, times in UTC)."""
    params = {
        "from": start,
        "to": end,
        "range": preset,
        "resolution": resolution,
        "kind": kind,
        "name": name,
    }
    try:
        query = parse_query(params, time.time(), minute_days=_retention().minute_days)
    except QueryError as error:
        raise click.UsageError(str(error)) from None
    progress = _progress("exported", "rows")
    with _reader(_store()) as conn:
        rows = iter_points(conn, query)
        chunks = iter_csv(rows, query.time_range.resolution, progress=progress)
        if output == "-":
            _write_stdout(chunks)
        else:
            _write_file(Path(output), chunks)
    _progress_done(progress)


@metrics_cli.command("rollup")
@click.option(
    "--all", "all_hours", is_flag=True, help="Recompute every hour, not only changed."
)
def rollup_command(all_hours: bool) -> None:
    """Fold minute rollups into hour rollups now."""
    hours = _store().rollup_hours(all_hours=all_hours)
    click.echo(f"Rolled up {hours} hour{'s' if hours != 1 else ''}.")


@metrics_cli.command("prune")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def prune_command(dry_run: bool) -> None:
    """Delete rollups and events older than their retention."""
    policy = _retention()
    store = _store()
    now = time.time()
    days = {
        "minute": policy.minute_days,
        "hour": policy.hour_days,
        "day": policy.hour_days,
        "events": policy.events_days,
    }
    if dry_run:
        counts = count_expired(store, policy, now)
        verb = "would delete"
    else:
        progress = _progress("deleted", "rows")
        counts = prune(
            store,
            policy,
            now,
            progress=(lambda tier, done: progress(done)) if progress else None,
        )
        _progress_done(progress)
        verb = "deleted"
    for tier, count in counts.items():
        click.echo(f"{tier:<7} {verb} {count:>10,} rows older than {days[tier]:g} days")


@metrics_cli.command("stats")
def stats_command() -> None:
    """Show rows, series, size and the time span of every tier."""
    store = _store()
    with _reader(store) as conn:
        stats = store_stats(conn)
    click.echo(f"Database  {store.path}")
    click.echo(f"Size      {format_bytes(store.size_bytes())}")
    click.echo("")
    click.echo(f"{'tier':<8} {'rows':>12}  {'oldest':<23}  {'newest':<23}")
    for tier, info in stats["tiers"].items():
        click.echo(
            f"{tier:<8} {info['rows']:>12,}  {_when(info['oldest']):<23}  "
            f"{_when(info['newest']):<23}"
        )
    click.echo("")
    total = sum(stats["series"].values())
    by_kind = ", ".join(f"{kind} {n}" for kind, n in stats["series"].items())
    click.echo(f"Series    {total}" + (f" ({by_kind})" if by_kind else ""))
    hours = stats["dirty_hours"]
    click.echo(
        f"Pending   {hours} hour{'' if hours == 1 else 's'} awaiting the hour rollup"
    )
    click.echo(f"Workers   {stats['processes']} known")
    for counter, value in stats["counters"].items():
        click.echo(f"Counter   {counter} = {value:,.0f}")


def _store() -> MetricsStore:
    monitoring = current_app.extensions.get(EXTENSION)
    store = getattr(monitoring, "store", None)
    if store is None:
        raise click.ClickException(
            "metrics are not enabled for this app; set STARPUNK_METRICS_ENABLED=1."
        )
    return store


@contextlib.contextmanager
def _reader(store: MetricsStore) -> Iterator[sqlite3.Connection]:
    """A read-only connection to an existing database, migrated first if need be.

    On a full disk or a read-only folder the migration fails, but the
    database can still be read.
    """
    if not store.path.exists():
        raise click.ClickException(
            f"there is no metrics database at {str(store.path)!r}; check "
            "STARPUNK_DATA_PATH and STARPUNK_METRICS_DB, or run 'starpunk init'."
        )
    try:
        with store.reading():
            pass  # migrates a database made by an older version
    except sqlite3.OperationalError:
        pass  # full disk or read-only folder: read what is there
    with contextlib.closing(open_reader(store.path)) as conn:
        yield conn


def _retention() -> RetentionPolicy:
    try:
        settings = parse_metrics_settings(current_app.config)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    return RetentionPolicy(
        minute_days=settings.retain_minute_days,
        hour_days=settings.retain_hour_days,
        events_days=settings.retain_events_days,
    )


def _write_stdout(chunks) -> None:
    """Write the CSV to standard output, failing loudly on a short write.

    Bytes go straight to the file descriptor, so no platform newline
    translation touches the CSV's CRLFs, and a full disk is an error instead
    of a silently truncated file.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None  # not a real file (a test runner's capture)
    if fd is None:
        stream = getattr(sys.stdout, "buffer", None)
        if stream is None:
            sys.stdout.writelines(chunks)
        else:
            _write_chunks(stream, chunks)
        sys.stdout.flush()
        return
    sys.stdout.flush()
    for chunk in chunks:
        data = memoryview(chunk.encode("utf-8"))
        while data:
            data = data[os.write(fd, data) :]


def _write_chunks(handle, chunks) -> None:
    for chunk in chunks:
        handle.write(chunk.encode("utf-8"))


def _write_file(path: Path, chunks) -> None:
    """Write the CSV to ``path``, never leaving a truncated file behind.

    A regular file (or a link to one) is written beside its target and
    renamed over it, keeping the target's permissions. Anything else that
    already exists there, such as ``/dev/stdout`` or a named pipe, is written
    into directly: it is never replaced.
    """
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        if target.is_dir():
            raise click.ClickException(f"cannot write {str(path)!r}: it is a folder.")
        with open(target, "wb") as handle:
            _write_chunks(handle, chunks)
        return
    if not target.parent.is_dir():
        raise click.ClickException(
            f"cannot write {str(path)!r}: the folder {str(target.parent)!r} "
            "does not exist."
        )
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
    partial = target.with_name(target.name + ".partial")
    try:
        with open(partial, "wb") as handle:
            if mode is not None:
                os.chmod(partial, mode)
            _write_chunks(handle, chunks)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def _progress(verb: str, noun: str) -> Callable[[int], None] | None:
    """A stderr counter, only when a person is watching a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int) -> None:
        click.echo(f"\r{verb} {done:,} {noun}", nl=False, err=True)

    return show


def _progress_done(progress: Callable[[int], None] | None) -> None:
    if progress is not None:
        click.echo("", err=True)


def _when(ts: float | None) -> str:
    return format_time(ts) if ts is not None else "–"
