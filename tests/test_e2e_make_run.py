"""End to end: ``make run`` as a user runs it, a note posted with curl, metrics kept."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.gunicorn_harness import ROOT, free_port, wait_for

pytestmark = pytest.mark.slow
STARPUNK = str(Path(ROOT) / ".venv" / "bin" / "starpunk")


def run_cli(env, *args, check=True):
    return subprocess.run(
        [STARPUNK, *args], env=env, capture_output=True, text=True, check=check
    )


def curl(*args: str) -> str:
    out = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "20", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


@pytest.fixture
def site(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "STARPUNK_DATA_PATH": str(tmp_path / "data"),
        "STARPUNK_SITE_URL": f"http://127.0.0.1:{port}",
        "STARPUNK_METRICS_FLUSH_SECONDS": "1",
    }
    log = open(tmp_path / "make-run.log", "w")
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy():
        result = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{base}/health"],
            capture_output=True,
            text=True,
        )
        return result.stdout == "200"

    try:
        assert wait_for(healthy, 120, 0.25), (tmp_path / "make-run.log").read_text()
        yield base, env, tmp_path / "make-run.log"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
        log.close()


def test_make_run_serves_and_a_micropub_note_appears_everywhere(site):
    base, env, log_path = site
    output = log_path.read_text()
    assert "Generated an admin password" in output
    assert re.search(r"^    \S{12,}$", output, re.M), "password printed once"
    workers = re.findall(r"Booting worker with pid", output)
    assert len(workers) == 2

    token = run_cli(env, "create-token", "curl").stdout.strip()
    headers = curl(
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-H",
        f"Authorization: Bearer {token}",
        "-d",
        "h=entry",
        "--data-urlencode",
        "content=Hello from **curl** at the edge",
        f"{base}/micropub",
    )
    assert headers.startswith("HTTP/1.1 201")
    location = re.search(r"^Location: (\S+)", headers, re.M | re.I).group(1)
    assert location.startswith(f"{base}/notes/")

    permalink = curl(location)
    assert "<strong>curl</strong>" in permalink and "h-entry" in permalink
    assert location.removeprefix(base) in curl(f"{base}/")
    for feed in ("/feed.rss", "/feed.atom"):
        tree = ET.fromstring(curl(f"{base}{feed}"))
        assert location in ET.tostring(tree, encoding="unicode")


def test_served_pages_reach_the_export_and_the_password_stays(site):
    base, env, _ = site
    for _ in range(5):
        curl("-o", "/dev/null", f"{base}/")

    # Two flush intervals, then the metrics of both workers are on disk.
    def served():
        out = run_cli(env, "metrics", "export", "--kind", "http", "--range", "1h")
        counts: dict[str, float] = {}
        for row in csv.DictReader(io.StringIO(out.stdout)):
            counts[row["name"]] = counts.get(row["name"], 0) + float(row["count"])
        return counts

    assert wait_for(lambda: served().get("public.index", 0) >= 5, 20)
    second = run_cli(env, "ensure-password").stdout
    assert "already set" in second and "Generated" not in second
