"""Gunicorn settings for StarPunk: ``gunicorn --config python:starpunk.gunicorn_conf``.

The hooks start each worker's monitoring as soon as it boots (so process
gauges exist before the first request) and flush what a worker still holds
when it exits, whether stopped, recycled by ``--max-requests`` or reloaded.
"""

import os
import sys

if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
graceful_timeout = 30
accesslog = None
# One shared control socket per user would make side-by-side servers collide.
control_socket_disable = True


def on_starting(server):
    """Check the settings once, before any worker boots.

    A bad value then stops the server with one line naming the variable,
    instead of a traceback from every worker.
    """
    from starpunk.config import load_config
    from starpunk.errors import ConfigError
    from starpunk.monitoring.settings import parse_metrics_settings

    try:
        parse_metrics_settings(load_config(None, os.environ))
    except ConfigError as error:
        print(f"Error: {error}", file=sys.stderr)
        sys.exit(2)


def post_worker_init(worker):
    """Start this worker's monitoring scheduler."""
    from starpunk.monitoring import on_worker_start

    on_worker_start(worker)


def worker_exit(server, worker):
    """Flush this worker's buffered samples before it goes."""
    from starpunk.monitoring import on_worker_exit

    on_worker_exit(worker)
