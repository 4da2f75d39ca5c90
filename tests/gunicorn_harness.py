"""Start real gunicorn servers on 127.0.0.1 for multi-process tests."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = [sys.executable, "-m", "gunicorn"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1):
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Server:
    """A gunicorn process serving ``app_spec`` with the given extra arguments."""

    def __init__(
        self,
        app_spec: str,
        env: dict[str, str],
        workers: int = 2,
        extra_args: list[str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.app_spec = app_spec
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.args = [
            *GUNICORN,
            "--config",
            "python:starpunk.gunicorn_conf",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--graceful-timeout",
            "20",
            *(extra_args or []),
            app_spec,
        ]
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, ready_path: str = "/ping", timeout: float = 30.0) -> Server:
        """Start gunicorn and wait until ``ready_path`` answers."""
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            self.args, env=self.env, stdout=log, stderr=log, cwd=ROOT
        )
        if not wait_for(lambda: self._answers(ready_path), timeout):
            self.stop()
            raise RuntimeError(f"gunicorn did not answer on port {self.port}")
        return self

    def _answers(self, path: str) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
        try:
            self.get(path)
        except OSError:
            return False
        return True

    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes]:
        """Send one GET on a new connection; return status and body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def worker_pids(self) -> list[int]:
        """PIDs of the current worker processes (children of the master)."""
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)],
            capture_output=True,
            text=True,
        ).stdout
        return [int(pid) for pid in out.split()]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40.0) -> int:
        """Stop gunicorn with ``sig`` and wait for it to exit."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
