"""Calling a WSGI app directly, as a server would, without a socket or test client."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

WsgiApp = Callable[[dict, Callable], object]


def base_environ(path: str, method: str = "GET") -> dict:
    """A minimal WSGI environ for ``method path`` from 127.0.0.1."""
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "starpunk-bench",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def caller(app: WsgiApp, path: str) -> Callable[[], str]:
    """Return a function making one request to ``path``; it returns the status.

    Each call gets a fresh environ (apps write into it), consumes the whole
    body and closes it, which is when a server would say the response ended.
    """
    template = base_environ(path)
    statuses: list[str] = []

    def write(_data: bytes) -> None:
        return None

    def start_response(status: str, _headers: list, _exc_info=None):
        statuses.append(status)
        return write

    def call() -> str:
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO(b"")
        statuses.clear()
        body = app(environ, start_response)
        try:
            for _chunk in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return statuses[-1] if statuses else ""

    return call
