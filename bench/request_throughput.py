"""Request overhead as throughput under gunicorn (2 sync workers) driven by wrk.

One gunicorn per variant starts on 127.0.0.1, each over a fresh data folder
and with StarPunk's gunicorn settings (whose hooks start the monitoring's
flush scheduler in each worker). All servers run at once but only one is
loaded at a time: wrk hits a path on variant A for a second, then B, C, D,
then the next round in rotated order. Throughput on a small shared machine
drifts by tens of percent over minutes, so the ratio is taken within each
round (seconds apart) and the figure is the median over rounds. wrk only
ever targets 127.0.0.1, for a bounded time.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import (
    REPO_ROOT,
    command_line,
    interleaved,
    markdown_table,
    median,
    say,
    spawn_worker,
    worker_env,
)
from bench.sites import (
    FOLDER_ENV,
    SITE_ENV,
    VARIANT_ENV,
    VARIANT_LABELS,
    VARIANTS,
    available_sites,
    site_paths,
)

HOST = "127.0.0.1"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
WORKERS = 2
CONNECTIONS = 4
READY_SECONDS = 30.0
STOP_SECONDS = 30.0
_REQUESTS_PER_SECOND = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: (.*)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_ready(port: int, process: subprocess.Popen) -> None:
    """Poll ``/health`` until it answers 200, the server dies, or time runs out."""
    deadline = time.monotonic() + READY_SECONDS
    url = f"http://{HOST}:{port}/health"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {process.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn on port {port} not ready in {READY_SECONDS}s")


def stop(process: subprocess.Popen) -> None:
    """Ask the gunicorn master we started to stop; kill it only if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_wrk(url: str, seconds: float) -> dict[str, Any]:
    """Run wrk against ``url`` (always on 127.0.0.1) and parse its summary."""
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"wrk may only target {HOST}, got {url!r}")
    done = subprocess.run(
        [WRK, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    found = _REQUESTS_PER_SECOND.search(done.stdout)
    if found is None:
        raise RuntimeError(f"cannot read wrk output:\n{done.stdout}{done.stderr}")
    non_2xx = _NON_2XX.search(done.stdout)
    errors = _SOCKET_ERRORS.search(done.stdout)
    return {
        "rps": float(found.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


class Server:
    """One gunicorn serving one site and variant over its own data folder."""

    def __init__(self, site: str, variant: str, folder: Path) -> None:
        spawn_worker(
            "bench.sites", {"site": site, "variant": variant, "folder": str(folder)}
        )
        self.port = free_port()
        env = worker_env(
            {SITE_ENV: site, VARIANT_ENV: variant, FOLDER_ENV: str(folder)}
        )
        command = [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            "python:starpunk.gunicorn_conf",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "sync",
            "--bind",
            f"{HOST}:{self.port}",
            "--log-level",
            "warning",
            "bench.sites:gunicorn_app()",
        ]
        self.log = open(folder / "gunicorn.log", "w")  # noqa: SIM115 - see stop
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def url(self, path: str) -> str:
        """Address of ``path`` on this server."""
        return f"http://{HOST}:{self.port}{path}"

    def stop(self) -> None:
        """Stop the server and close its log."""
        stop(self.process)
        self.log.close()


def measure_site(
    site: str, rounds: int, seconds: float, progress
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Run all variants' servers at once; wrk each path on each in turn."""
    paths = site_paths(site)
    runs: dict[str, dict[str, list]] = {
        kind: {variant: [] for variant in VARIANTS} for kind in paths
    }
    with contextlib.ExitStack() as stack:
        servers = {}
        for variant in VARIANTS:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            servers[variant] = Server(site, variant, folder)
            stack.callback(servers[variant].stop)
        for server in servers.values():
            wait_ready(server.port, server.process)
            for path in paths.values():
                run_wrk(server.url(path), 1)
        for number, variant in interleaved(list(VARIANTS), rounds):
            if variant == VARIANTS[0] or number == 0:
                progress(f"throughput {site} round {number + 1}/{rounds}: {variant}")
            for kind, path in paths.items():
                result = run_wrk(servers[variant].url(path), seconds)
                if result["non_2xx"] or result["socket_errors"]:
                    say(f"warning: {site} {variant} {path}: {result}")
                runs[kind][variant].append(result)
    return runs


def run(quick: bool = False, progress=say, sites: list[str] | None = None) -> dict:
    """Throughput of every variant on every site; ratios to 'off' per round."""
    if not os.access(WRK, os.X_OK):
        return {"skipped": f"wrk not found at {WRK}"}
    rounds = 2 if quick else 8
    seconds = 1.0 if quick else 2.0
    results = {}
    for site in sites or available_sites():
        runs = measure_site(site, rounds, seconds, progress)
        paths = site_paths(site)
        per_path = {}
        for kind, by_variant in runs.items():
            per_path[kind] = {
                "path": paths[kind],
                "rps": {v: median(r["rps"] for r in by_variant[v]) for v in VARIANTS},
                # Time per request relative to 'off': off rps / variant rps.
                "ratio": {
                    v: median(
                        base["rps"] / r["rps"]
                        for r, base in zip(
                            by_variant[v], by_variant["off"], strict=True
                        )
                    )
                    for v in VARIANTS
                },
            }
        results[site] = per_path
    return {
        "rounds": rounds,
        "seconds": seconds,
        "workers": WORKERS,
        "connections": CONNECTIONS,
        "sites": results,
    }


def report(result: dict[str, Any]) -> str:
    """One markdown table per site: requests/s and time-per-request ratio."""
    if "skipped" in result:
        return f"throughput skipped: {result['skipped']}"
    tables = []
    for site, per_path in result["sites"].items():
        rows = []
        for kind, cell in per_path.items():
            for variant in VARIANTS:
                rows.append(
                    (
                        f"{kind} `{cell['path']}`",
                        VARIANT_LABELS[variant],
                        f"{cell['rps'][variant]:,.0f}",
                        f"{cell['ratio'][variant]:.3f}",
                    )
                )
        tables.append(
            f"site: {site}\n\n"
            + markdown_table(
                ["path", "variant", "requests/s", "time/request vs off"], rows
            )
        )
    return "\n\n".join(tables)


def main() -> None:
    command_line(__doc__, run, report, sites=True)


if __name__ == "__main__":
    main()
