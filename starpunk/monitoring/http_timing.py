"""WSGI-level request timing that never touches a body and never breaks streaming."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from time import perf_counter
from typing import Any

from metrics_store.recorder import Recorder

UNMATCHED = "<unmatched>"
# Werkzeug's request object puts itself in the environ under this key.
REQUEST_KEY = "werkzeug.request"

_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)
_NOT_ERRORS = frozenset("1234")
# Labels by method and first digit of the status, built once rather than per
# request. Unknown verbs share ``OTHER`` to bound cardinality.
_LABELS = {
    (method, digit): f"method={method};status={digit}xx"
    for method in (*_METHODS, "OTHER")
    for digit in "12345"
}


def status_labels(method: str, status: str) -> str:
    """Return the labels of a request: its method and its status class."""
    labels = _LABELS.get((method, status[:1]))
    if labels is None:
        digit = status[:1] if status[:1] in _NOT_ERRORS else "5"
        labels = _LABELS[(method if method in _METHODS else "OTHER", digit)]
    return labels


def endpoint_of(environ: dict) -> str:
    """Return the endpoint Flask matched for the request being served.

    Werkzeug's request object sits in the environ while the request is
    served (Flask clears it when its request context ends), so this is read
    when the app calls ``start_response``, with no hook run per request. A
    request whose exception propagates out of the app (``PROPAGATE_EXCEPTIONS``)
    never starts a response and is recorded as ``<unmatched>``, with its
    path in the error detail.
    """
    rule = getattr(environ.get(REQUEST_KEY), "url_rule", None)
    return getattr(rule, "endpoint", None) or UNMATCHED


class _TimedResponse:
    """Catches the status from ``start_response`` and passes the body through.

    It stands in for ``start_response`` while the app runs, then for the
    body. The WSGI server calls ``close`` after the last byte went out, so
    the measurement covers streamed bodies to the end. Iteration is the
    wrapped iterable's own iterator: no per-chunk work is added.
    """

    __slots__ = (
        "start_response",
        "status",
        "endpoint",
        "body",
        "timer",
        "environ",
        "began",
    )

    def __init__(self, start_response, timer, environ, began) -> None:
        self.start_response = start_response
        self.status = "500"
        self.endpoint = UNMATCHED
        self.body: Iterable[bytes] = ()
        self.timer = timer
        self.environ = environ
        self.began = began

    def __call__(self, status: str, headers: list, exc_info: Any = None) -> Callable:
        self.status = status
        self.endpoint = endpoint_of(self.environ)
        return self.start_response(status, headers, exc_info)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.timer.finish(self.environ, self.endpoint, self.status, self.began)


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
        response = _TimedResponse(start_response, self, environ, began)
        try:
            response.body = self.wsgi_app(environ, response)
        except BaseException:
            self.finish(environ, UNMATCHED, "500", began)
            raise
        return response

    def finish(self, environ: dict, endpoint: str, status: str, began: float) -> None:
        """Record one finished request."""
        end = perf_counter()
        elapsed = (end - began) * 1000.0
        method = environ.get("REQUEST_METHOD", "GET")
        detail = None
        error = status[:1] not in _NOT_ERRORS
        if error or elapsed >= self._slow_ms:
            # The path only: a query string may carry secrets.
            path = environ.get("PATH_INFO", "")[:200]
            request_id = environ.get("HTTP_X_REQUEST_ID", "")[:64]
            detail = f"{method[:10]} {path}" + (
                f" id={request_id}" if request_id else ""
            )
        labels = _LABELS.get((method, status[:1])) or status_labels(method, status)
        self._record(endpoint, labels, elapsed, end, error, detail)
