"""The site keeps serving while the metrics database misbehaves, then recovers.

Real gunicorn workers and real files. Root may write to files whatever their
mode, so read-only and full disks are real tmpfs mounts.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.gunicorn_harness import Server, wait_for
from tests.monitoring_helpers import endpoint_totals

APP = "tests.apps.monitored_app:create_app()"
FAULT_LOG = "cannot write metrics"
RECOVERY_LOG = "is writable again"

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def tmpfs(path, size="4m"):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def start(tmp_path, metrics_db, workers=2, **env):
    (tmp_path / "static").mkdir(exist_ok=True)
    values = {
        "APP_DATA": str(tmp_path),
        "APP_METRICS_DB": str(metrics_db),
        "METRICS_FLUSH_SECONDS": "0.3",
    }
    values.update({k: str(v) for k, v in env.items()})
    return Server(APP, values, workers=workers, log_path=tmp_path / "g.log").start()


def send(srv, path, count, threads=4):
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: srv.get(path)[0], range(count)))


def log_lines(tmp_path, text):
    return [
        line for line in (tmp_path / "g.log").read_text().splitlines() if text in line
    ]


def assert_fault_logged_once_per_worker(tmp_path, workers=2):
    faults = log_lines(tmp_path, FAULT_LOG)
    assert 1 <= len(faults) <= workers, faults


def test_unwritable_metrics_path_at_start_up_still_serves(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file where a folder should be")
    srv = start(tmp_path, blocker / "metrics.db")
    try:
        assert send(srv, "/", 30) == [200] * 30
        time.sleep(1.0)  # several failed flush intervals
        assert send(srv, "/", 10) == [200] * 10
        health = srv.get("/monitoring")
        assert health[0] == 200 and b'"failing":true' in health[1].replace(b" ", b"")
    finally:
        srv.stop()
    assert_fault_logged_once_per_worker(tmp_path)


@pytest.mark.parametrize("fault", ["read-only", "disk-full", "garbage", "deleted"])
def test_faults_are_survived_logged_once_and_recovered(tmp_path, fault):
    mount = tmp_path / "mnt"
    with tmpfs(mount, size="1m" if fault == "disk-full" else "8m"):
        folder = mount / "metrics"
        folder.mkdir()
        db = folder / "metrics.db"
        srv = start(tmp_path, db)
        try:
            assert send(srv, "/", 10) == [200] * 10
            assert wait_for(lambda: endpoint_totals(db).get("index") == 10, 10)
            filler = mount / "filler"
            if fault == "read-only":
                # A read-only file system now stands where the database was.
                subprocess.run(
                    ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                    check=True,
                )
            elif fault == "disk-full":
                with open(filler, "wb") as out, contextlib.suppress(OSError):
                    while True:
                        out.write(b"\0" * 65536)
                        out.flush()
            elif fault == "garbage":
                db.with_name("garbage").write_bytes(os.urandom(40_000))
                for suffix in ("-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{db}{suffix}")
                os.replace(db.with_name("garbage"), db)
            elif fault == "deleted":
                subprocess.run(["rm", "-rf", str(folder)], check=True)
                # Something else now stands where the folder was.
                folder.write_text("not a folder")

            # Many requests, each producing several samples, over many flushes.
            for _ in range(5):
                assert send(srv, "/", 20) == [200] * 20
                time.sleep(0.3)
            assert wait_for(lambda: len(log_lines(tmp_path, FAULT_LOG)) >= 1, 10)

            # Remove the cause: everything sent meanwhile lands exactly once.
            if fault == "read-only":
                subprocess.run(["umount", str(folder)], check=True)
            elif fault == "disk-full":
                filler.unlink()
            elif fault == "garbage":
                db.unlink()
            elif fault == "deleted":
                folder.unlink()
            expected = 110 if fault in ("read-only", "disk-full") else 100
            assert wait_for(lambda: endpoint_totals(db).get("index") == expected, 15), (
                endpoint_totals(db)
            )
            assert wait_for(lambda: len(log_lines(tmp_path, RECOVERY_LOG)) >= 1, 10)
        finally:
            srv.stop()
        assert_fault_logged_once_per_worker(tmp_path)
        conn = sqlite3.connect(db)
        failures = conn.execute("SELECT max(flush_failures) FROM processes").fetchone()
        integrity = conn.execute("PRAGMA integrity_check").fetchone()
        conn.close()
        assert failures[0] >= 1 and integrity == ("ok",)


def test_flush_behind_a_held_write_lock_does_not_slow_requests(tmp_path):
    db = tmp_path / "metrics.db"
    srv = start(tmp_path, db)
    try:
        send(srv, "/", 10)
        assert wait_for(lambda: endpoint_totals(db).get("index") == 10, 10)
        holder = sqlite3.connect(db, timeout=5, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            latencies = []
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                began = time.monotonic()
                assert srv.get("/")[0] == 200
                latencies.append(time.monotonic() - began)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # Flushes are blocked for seconds; requests must not be.
        assert max(latencies) < 1.0, max(latencies)
        assert wait_for(
            lambda: endpoint_totals(db).get("index") == 10 + len(latencies), 15
        )
    finally:
        srv.stop()


def test_full_buffer_drops_oldest_counts_them_and_stays_flat(tmp_path):
    db = tmp_path / "metrics.db"
    srv = start(
        tmp_path, db, workers=1, METRICS_BUFFER_MAX=100, METRICS_FLUSH_SECONDS=3600
    )
    try:
        pid = srv.worker_pids()[0]
        send(srv, "/", 300)
        rss_small = _rss(pid)
        send(srv, "/", 1500)
        rss_large = _rss(pid)
        health = srv.get("/monitoring")[1]
    finally:
        srv.stop()
    assert rss_large - rss_small < 8 * 2**20
    assert b'"buffered":100' in health.replace(b" ", b"")
    conn = sqlite3.connect(db)
    dropped = conn.execute("SELECT dropped FROM processes").fetchone()[0]
    conn.close()
    # Each page makes four samples (request, two queries, one render).
    assert dropped >= 1800 * 4 - 100 - 50
    assert endpoint_totals(db).get("index", 0) < 100


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_sigkill_mid_flush_keeps_the_database_intact(tmp_path):
    db = tmp_path / "metrics.db"
    interval = 0.3
    srv = start(tmp_path, db, workers=2, METRICS_FLUSH_SECONDS=interval)
    sent = 0
    stop = threading.Event()
    try:

        def traffic():
            nonlocal sent
            while not stop.is_set():
                try:
                    if srv.get("/")[0] == 200:
                        sent += 1
                except (OSError, http.client.HTTPException):
                    pass  # the request the killed worker was serving

        thread = threading.Thread(target=traffic)
        began = time.monotonic()
        thread.start()
        time.sleep(1.5)
        victim = srv.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        time.sleep(1.5)
        stop.set()
        thread.join()
        elapsed = time.monotonic() - began
    finally:
        srv.stop()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    recorded = endpoint_totals(db)["index"]
    rate = sent / elapsed
    # At most what one worker served in one flush interval (plus the flush itself).
    assert 0 <= sent - recorded <= rate * (interval + 0.3) + 2, (sent, recorded, rate)
