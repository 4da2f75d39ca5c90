"""Gunicorn settings: ``gunicorn --config python:starpunk.gunicorn_conf``."""

from __future__ import annotations

import os
from typing import Any

from starpunk import monitoring

# Heartbeat files on tmpfs: a slow disk must not make the arbiter kill workers.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Time for a worker to finish its requests and flush its metrics on SIGTERM.
graceful_timeout = 30
accesslog = None


def post_worker_init(worker: Any) -> None:
    """Start the worker's monitoring, when the monitoring package provides it."""
    hook = getattr(monitoring, "on_worker_start", None)
    if hook is not None:
        hook(worker)


def worker_exit(server: Any, worker: Any) -> None:
    """Let monitoring flush what the worker still holds before it exits."""
    hook = getattr(monitoring, "on_worker_exit", None)
    if hook is not None:
        hook(worker)
