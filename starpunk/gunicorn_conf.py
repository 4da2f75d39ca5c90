"""Gunicorn settings for StarPunk: ``gunicorn --config python:starpunk.gunicorn_conf``.

The hooks start each worker's monitoring as soon as it boots (so process
gauges exist before the first request) and flush what a worker still holds
when it exits, whether stopped, recycled by ``--max-requests`` or reloaded.
"""

import os

if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
graceful_timeout = 30
accesslog = None
# One shared control socket per user would make side-by-side servers collide.
control_socket_disable = True


def post_worker_init(worker):
    """Start this worker's monitoring scheduler."""
    from starpunk.monitoring import on_worker_start

    on_worker_start(worker)


def worker_exit(server, worker):
    """Flush this worker's buffered samples before it goes."""
    from starpunk.monitoring import on_worker_exit

    on_worker_exit(worker)
