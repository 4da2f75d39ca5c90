"""StarPunk under sustained load from many connections, with the CLI at work.

Four gunicorn workers serve a few hundred requests a second while
``starpunk metrics export`` and ``starpunk metrics prune`` run beside them.
Every request must get its expected answer, nothing may report a locked
database, and the metrics must count exactly what the client saw.
"""

from __future__ import annotations

import csv
import threading
import time
from collections import Counter

import pytest

from tests.site_server import Site

pytestmark = pytest.mark.slow

PASSWORD = "load-test-password"
WORKERS = 4
CLIENT_THREADS = 16
RATE_PER_SECOND = 250
LOAD_SECONDS = 45
MAX_REQUESTS = RATE_PER_SECOND * LOAD_SECONDS
# Seconds into the load at which each CLI command starts.
CLI_SCHEDULE = [(8, "export"), (18, "prune"), (28, "export"), (36, "prune")]
LOCKED = "database is locked"


class LoadClient:
    """Paced requests from many threads, one new connection each, bounded."""

    def __init__(self, server, plan: list[tuple[str, str, int]]) -> None:
        self.server = server
        self.plan = plan
        self.lock = threading.Lock()
        self.issued = 0
        self.seen: Counter[str] = Counter()
        self.failures: list[tuple[str, object]] = []
        self.started = 0.0

    def _next_slot(self) -> int | None:
        with self.lock:
            if self.issued >= MAX_REQUESTS:
                return None
            slot = self.issued
            self.issued += 1
            return slot

    def _worker(self) -> None:
        while (slot := self._next_slot()) is not None:
            due = self.started + slot / RATE_PER_SECOND
            now = time.monotonic()
            if now - self.started > LOAD_SECONDS:
                return
            if due > now:
                time.sleep(due - now)
            path, endpoint, expected = self.plan[slot % len(self.plan)]
            try:
                status, _body = self.server.get(path)
            except OSError as exc:
                status = exc
            with self.lock:
                if status == expected:
                    self.seen[endpoint] += 1
                else:
                    self.failures.append((path, status))

    def run(self) -> None:
        threads = [threading.Thread(target=self._worker) for _ in range(CLIENT_THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(LOAD_SECONDS + 30)
        assert not any(thread.is_alive() for thread in threads)


def run_cli_during_load(site: Site, client: LoadClient, outputs: list) -> None:
    for offset, command in CLI_SCHEDULE:
        delay = client.started + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if command == "export":
            target = site.root / f"export-{offset}.csv"
            args = ("metrics", "export", "--range", "1h", "--output", str(target))
        else:
            args = ("metrics", "prune")
        outputs.append((args, site.cli(*args)))


def exported_http_counts(site: Site) -> Counter[str]:
    """Sum of ``count`` per http name in a CSV written by the CLI."""
    target = site.root / "final.csv"
    site.cli_ok("metrics", "export", "--range", "1h", "--output", str(target))
    totals: Counter[str] = Counter()
    with open(target, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            assert row["resolution"] == "minute"
            if row["kind"] == "http":
                totals[row["name"]] += int(row["count"])
    return totals


def test_sustained_load_with_cli_commands_loses_and_fails_nothing(tmp_path):
    site = Site(tmp_path, METRICS_FLUSH_SECONDS=1)
    site.init(PASSWORD)
    slug = site.seed_notes(5)[2]
    plan = [
        ("/", "public.index", 200),
        (f"/notes/{slug}", "public.note", 200),
        ("/feed.atom", "feeds.atom", 200),
        ("/static/style.css", "static", 200),
        ("/no/such/page", "<unmatched>", 404),
    ]

    server = site.server(workers=WORKERS)
    server.start(ready_path="/health")
    client = LoadClient(server, plan)
    outputs: list = []
    try:
        cli_thread = threading.Thread(
            target=run_cli_during_load, args=(site, client, outputs)
        )
        client.started = time.monotonic()
        loader = threading.Thread(target=client.run)
        loader.start()
        cli_thread.start()
        loader.join(LOAD_SECONDS + 40)
        cli_thread.join(60)
        elapsed = time.monotonic() - client.started
    finally:
        assert server.stop() == 0

    served = sum(client.seen.values())
    assert client.failures == []
    # The client really produced a few hundred requests a second.
    assert served >= 0.8 * MAX_REQUESTS, (served, elapsed)
    assert len(outputs) == len(CLI_SCHEDULE)
    for args, result in outputs:
        assert result.returncode == 0, (args, result.stderr)
        assert LOCKED not in result.stdout + result.stderr, args
    for offset, command in CLI_SCHEDULE:
        if command == "export":
            header = (site.root / f"export-{offset}.csv").read_text().splitlines()[0]
            assert header.startswith("bucket_start,resolution,kind,name,")
    log = site.log_text()
    assert LOCKED not in log
    assert "Traceback" not in log

    totals = exported_http_counts(site)
    # Only the readiness probe was sent besides the load.
    assert totals.pop("health.health") >= 1
    assert totals == client.seen
