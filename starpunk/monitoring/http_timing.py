"""WSGI-level request timing that never touches a body and never breaks streaming."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from time import perf_counter
from typing import Any

from flask import request

from metrics_store.recorder import Recorder

ENDPOINT_KEY = "starpunk.monitoring.endpoint"
UNMATCHED = "<unmatched>"
_STATUS_CLASSES = {str(n): f"{n}xx" for n in range(1, 6)}


def tag_endpoint() -> None:
    """Before-request hook: note the matched endpoint where the middleware finds it."""
    request.environ[ENDPOINT_KEY] = request.endpoint


class _StatusCatcher:
    """Wraps ``start_response`` to remember the status, nothing else."""

    __slots__ = ("start_response", "status")

    def __init__(self, start_response: Callable) -> None:
        self.start_response = start_response
        self.status = "500"

    def __call__(self, status: str, headers: list, exc_info: Any = None) -> Callable:
        self.status = status
        return self.start_response(status, headers, exc_info)


class _TimedBody:
    """Passes the body through untouched; records when the server closes it.

    The WSGI server calls ``close`` after the last byte went out, so the
    measurement covers streamed bodies to the end. Iteration is the wrapped
    iterable's own iterator: no per-chunk work is added.
    """

    __slots__ = ("body", "timer", "environ", "began", "catcher")

    def __init__(self, body, timer, environ, began, catcher) -> None:
        self.body = body
        self.timer = timer
        self.environ = environ
        self.began = began
        self.catcher = catcher

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.timer.finish(self.environ, self.catcher.status, self.began)


class RequestTimer:
    """WSGI middleware timing every request, by endpoint, method and status class."""

    def __init__(
        self,
        wsgi_app: Callable,
        recorder: Recorder,
        on_first_request: Callable[[], None] | None = None,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.recorder = recorder
        self.on_first_request = on_first_request
        self._record = recorder.for_kind("http")
        self._slow_ms = recorder.slow_ms.get("http", float("inf"))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.on_first_request is not None:
            self.on_first_request()
        began = perf_counter()
        catcher = _StatusCatcher(start_response)
        try:
            body = self.wsgi_app(environ, catcher)
        except BaseException:
            self.finish(environ, "500", began)
            raise
        return _TimedBody(body, self, environ, began, catcher)

    def finish(self, environ: dict, status: str, began: float) -> None:
        """Record one finished request."""
        end = perf_counter()
        elapsed = (end - began) * 1000.0
        endpoint = environ.get(ENDPOINT_KEY) or UNMATCHED
        status_class = _STATUS_CLASSES.get(status[:1], "5xx")
        method = environ.get("REQUEST_METHOD", "GET")
        labels = f"method={_safe_method(method)};status={status_class}"
        detail = None
        error = status_class == "5xx"
        if error or elapsed >= self._slow_ms:
            # The path only: a query string may carry secrets.
            path = environ.get("PATH_INFO", "")[:200]
            request_id = environ.get("HTTP_X_REQUEST_ID", "")[:64]
            detail = f"{method[:10]} {path}" + (
                f" id={request_id}" if request_id else ""
            )
        self._record(endpoint, labels, elapsed, end, error, detail)


_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)


def _safe_method(method: str) -> str:
    """Bound label cardinality: unknown verbs share one label value."""
    return method if method in _METHODS else "OTHER"
