"""``starpunk metrics`` commands through Flask's CLI runner."""

from __future__ import annotations

import csv
import io
import types

import pytest
from freezegun import freeze_time

from metrics_store.store import MetricsStore
from metrics_store.timebuckets import DAY
from tests.metrics_fixtures import NOW, make_app, sample, seed, seed_site


@pytest.fixture
def frozen():
    with freeze_time("2023-11-14T22:13:20Z") as frozen:
        yield frozen


@pytest.fixture
def store(tmp_path, frozen):
    store = MetricsStore(tmp_path / "metrics.db")
    yield store
    store.close()


@pytest.fixture
def runner(store):
    seed_site(store)
    app = make_app(store)
    return app.test_cli_runner()


def run(runner, *args: str):
    return runner.invoke(args=["metrics", *args], catch_exceptions=False)


def test_export_writes_csv_to_stdout(runner):
    result = run(runner, "export", "--range", "1h", "--kind", "render")

    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows and {r["kind"] for r in rows} == {"render"}
    assert result.output.startswith("bucket_start,resolution,kind,name,labels,unit,")
    assert result.stdout_bytes.count(b"\r\n") == len(rows) + 1


def test_export_with_from_to_and_resolution(runner):
    result = run(
        runner,
        "export",
        "--from",
        "2023-11-14T21:00:00Z",
        "--to",
        "2023-11-14T22:00:00+00:00",
        "--resolution",
        "hour",
        "--kind",
        "http",
        "--name",
        "public.note",
    )

    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["bucket_start"], r["resolution"], r["labels"]) for r in rows] == [
        ("2023-11-14T21:00:00Z", "hour", "method=GET;status=2xx"),
        ("2023-11-14T21:00:00Z", "hour", "method=GET;status=4xx"),
    ]


def test_export_to_a_file(runner, tmp_path):
    target = tmp_path / "out.csv"

    result = run(runner, "export", "--output", str(target))

    assert result.exit_code == 0 and result.output == ""
    assert target.read_bytes().startswith(b"bucket_start,")
    assert not (tmp_path / "out.csv.partial").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "soon"], "from is not an ISO 8601 time"),
        (["--from", "2023-11-14", "--to", "2023-11-13"], "from must be before to"),
        (["--range", "1h", "--from", "2023-11-14"], "either range or from/to"),
        (["--resolution", "second"], "'second' is not one of"),
        (["--kind", "cpu"], "'cpu' is not one of"),
        (["--range", "30d", "--resolution", "minute"], "use resolution=hour"),
    ],
)
def test_bad_export_options_exit_2_without_traceback(runner, args, message):
    result = runner.invoke(args=["metrics", "export", *args])

    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_rollup_reports_the_hours_done(store, frozen):
    seed(store, [sample(NOW - 60, "db", "SELECT 1", 1.0, "op=SELECT")], rollup=False)
    runner = make_app(store).test_cli_runner()

    first = run(runner, "rollup")
    again = run(runner, "rollup")
    everything = run(runner, "rollup", "--all")

    assert first.output == "Rolled up 1 hour.\n"
    assert again.output == "Rolled up 0 hours.\n"
    assert everything.output == "Rolled up 1 hour.\n"


def test_prune_dry_run_counts_and_prune_deletes(store, frozen):
    old = NOW - 10 * DAY
    seed(store, [sample(old + i * 60, "render", "index.html", 3.0) for i in range(5)])
    seed(store, [sample(NOW - 60, "render", "index.html", 3.0)])
    runner = make_app(store).test_cli_runner()

    dry = run(runner, "prune", "--dry-run")
    done = run(runner, "prune")
    after = run(runner, "prune", "--dry-run")

    # Five minutes, each with the template's row and the render total's row.
    assert "minute  would delete         10 rows older than 7 days" in dry.output
    assert "hour    would delete          0 rows older than 400 days" in dry.output
    assert "minute  deleted         10 rows" in done.output
    assert "minute  would delete          0 rows" in after.output


def test_prune_follows_configured_retention(store, frozen):
    seed(store, [sample(NOW - 3 * DAY, "render", "index.html", 3.0)])
    app = make_app(store, {"METRICS_RETAIN_MINUTE_DAYS": 2})

    result = app.test_cli_runner().invoke(args=["metrics", "prune", "--dry-run"])

    assert "minute  would delete          2 rows older than 2 days" in result.output


def test_prune_rejects_bad_retention_config(store):
    app = make_app(store, {"METRICS_RETAIN_HOUR_DAYS": "forever"})

    result = app.test_cli_runner().invoke(args=["metrics", "prune"])

    assert result.exit_code == 1
    assert "METRICS_RETAIN_HOUR_DAYS must be a number, got 'forever'" in result.output


def test_stats_lists_tiers_series_and_size(runner):
    result = run(runner, "stats")

    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("Database  ") and lines[1].startswith("Size      ")
    minute = next(line for line in lines if line.startswith("minute"))
    assert "2023-11-14 20:13:00 UTC" in minute and "2023-11-14 22:12:00 UTC" in minute
    assert any(line.startswith("hour ") for line in lines)
    assert any(line.startswith("events ") for line in lines)
    assert "Series    14 (db 3, http 5, process 4, render 2)" in result.output


def test_commands_explain_when_metrics_are_off(store):
    app = make_app(store)
    app.extensions["starpunk.monitoring"] = types.SimpleNamespace(store=None)

    result = app.test_cli_runner().invoke(args=["metrics", "stats"])

    assert result.exit_code == 1
    assert "metrics are not enabled" in result.output


@pytest.mark.parametrize(
    "args", [["stats"], ["export", "--range", "1h"], ["rollup"], ["prune"]]
)
def test_an_unreadable_database_is_one_clear_error(tmp_path, frozen, args):
    path = tmp_path / "metrics.db"
    path.write_bytes(b"garbage, not SQLite" * 300)
    store = MetricsStore(path)
    try:
        result = make_app(store).test_cli_runner().invoke(args=["metrics", *args])
    finally:
        store.close()
    assert result.exit_code == 1
    assert "metrics.db" in result.output and "not a database" in result.output
    assert "Traceback" not in result.output
    assert path.read_bytes() == b"garbage, not SQLite" * 300


def test_export_into_a_missing_folder_says_so(runner, tmp_path):
    target = tmp_path / "absent" / "out.csv"
    result = runner.invoke(args=["metrics", "export", "--output", str(target)])
    assert result.exit_code == 1
    assert "does not exist" in result.output and str(target.parent) in result.output
    assert not target.parent.exists()


@pytest.mark.parametrize("args", [["stats"], ["export", "--range", "1h"]])
def test_reading_commands_do_not_create_a_missing_database(tmp_path, frozen, args):
    path = tmp_path / "elsewhere" / "metrics.db"
    store = MetricsStore(path)
    try:
        result = make_app(store).test_cli_runner().invoke(args=["metrics", *args])
    finally:
        store.close()
    assert result.exit_code == 1
    assert "there is no metrics database" in result.output
    assert not path.exists()
