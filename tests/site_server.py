"""StarPunk itself under real gunicorn, prepared through its own CLI.

The reliability and security tests run the site as an operator would:
``starpunk init``, ``set-password`` and ``create-token`` in subprocesses with
the same ``STARPUNK_*`` environment as the server.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

from starpunk.db import open_connection
from starpunk.notes import create_note
from tests.gunicorn_harness import ROOT, Server

SITE_APP = "starpunk:create_app()"
CLI = [sys.executable, "-c", "from starpunk.cli import main; main()"]


class Site:
    """A data folder with its environment, the CLI, and gunicorn serving it."""

    def __init__(self, root: Path, **settings: object) -> None:
        self.root = root
        self.data = root / "data"
        self.log_path = root / "gunicorn.log"
        self.env = {
            "STARPUNK_DATA_PATH": str(self.data),
            "STARPUNK_METRICS_FLUSH_SECONDS": "1",
        }
        self.env.update({f"STARPUNK_{k}": str(v) for k, v in settings.items()})

    @property
    def metrics_db(self) -> Path:
        return self.data / "metrics.db"

    @property
    def app_db(self) -> Path:
        return self.data / "starpunk.db"

    def cli(
        self, *args: str, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        """Run ``starpunk ARGS`` with this site's environment."""
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        return subprocess.run(
            [*CLI, *args],
            env=env,
            cwd=self.root,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cli_ok(self, *args: str, stdin: str | None = None) -> str:
        """Run a command that must succeed; return its standard output."""
        result = self.cli(*args, stdin=stdin)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def init(self, password: str, token_name: str = "tests") -> str:
        """Initialize the data folder, set the password; return a new token."""
        self.cli_ok("init")
        self.cli_ok("set-password", "--password-stdin", stdin=password + "\n")
        return self.cli_ok("create-token", token_name).strip()

    def seed_notes(self, count: int) -> list[str]:
        """Store ``count`` published notes directly; return their slugs."""
        connection = open_connection(self.app_db)
        try:
            return [
                create_note(connection, f"Seeded note {i}\n\nSome *text*.").slug
                for i in range(count)
            ]
        finally:
            connection.close()

    def server(self, workers: int = 2, extra_args: list[str] | None = None) -> Server:
        """A gunicorn server for this site (not started)."""
        return Server(
            SITE_APP,
            self.env,
            workers=workers,
            extra_args=extra_args,
            log_path=self.log_path,
        )

    def log_text(self) -> str:
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | str | dict | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Send one request on a new connection; a dict body is form-encoded."""
    headers = dict(headers or {})
    if isinstance(body, dict):
        body = urlencode(body)
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def raw_request(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes on a new connection; return everything the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(raw: bytes) -> int:
    """The status code of a raw HTTP answer."""
    match = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    assert match, raw[:200]
    return int(match.group(1))


class Browser:
    """A cookie-keeping client for the admin forms of a running site."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""

    def send(
        self, method: str, path: str, form: dict | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        status, got, body = request(self.port, method, path, form, headers)
        cookie = got.get("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return status, got, body

    def csrf(self, path: str) -> str:
        status, _, body = self.send("GET", path)
        assert status == 200, (path, status)
        match = re.search(rb'name="csrf_token" value="([^"]+)"', body)
        assert match, body[:300]
        return match.group(1).decode()

    def log_in(self, password: str) -> int:
        token = self.csrf("/admin/login")
        form = {"password": password, "csrf_token": token}
        return self.send("POST", "/admin/login", form)[0]
