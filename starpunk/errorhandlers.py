"""One place that turns errors into HTTP answers: styled pages or JSON."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from starpunk.errors import (
    Gone,
    InsufficientScope,
    InvalidInput,
    NotFound,
    StarPunkError,
    Unauthorized,
)

logger = logging.getLogger(__name__)

# Domain error -> (HTTP status, error code used in JSON answers).
DOMAIN_STATUS: dict[type[StarPunkError], tuple[int, str]] = {
    InvalidInput: (400, "invalid_request"),
    Unauthorized: (401, "unauthorized"),
    InsufficientScope: (403, "insufficient_scope"),
    Gone: (410, "gone"),
    NotFound: (404, "not_found"),
}

# Error codes for JSON answers to plain HTTP errors; Micropub names the first ones.
HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    410: "gone",
    413: "request_too_large",
    429: "too_many_requests",
}

TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    410: "Gone",
    413: "Too large",
    429: "Too many attempts",
    500: "Something went wrong",
}


def wants_json() -> bool:
    """Return True when the error answer should be JSON rather than a page."""
    if g.get("wants_json") or request.blueprint == "micropub":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(
    status: int, description: str, code: str | None = None
) -> tuple[Response, int]:
    """Build the answer for an error: JSON ``{error, error_description}`` or a page."""
    if wants_json():
        body = {
            "error": code or HTTP_CODES.get(status, "server_error"),
            "error_description": description,
        }
        response = jsonify(body)
    else:
        page = render_template(
            "error.html",
            status=status,
            title=TITLES.get(status, "Error"),
            description=description,
        )
        response = Response(page, mimetype="text/html")
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response, status


def handle_domain_error(error: StarPunkError) -> tuple[Response, int]:
    """Answer a domain exception with its status and message."""
    for error_type, (status, code) in DOMAIN_STATUS.items():
        if isinstance(error, error_type):
            return error_response(status, str(error), code)
    logger.error(
        "Unhandled StarPunk error on %s %s",
        request.method,
        request.path,
        exc_info=error,
    )
    return handle_internal_error(InternalServerError(original_exception=error))


def handle_http_error(error: HTTPException) -> Response | tuple[Response, int]:
    """Answer werkzeug's HTTP errors (404, 405, 413...) in the site's style."""
    if error.code is None or error.code < 400:
        return error.get_response()
    if error.code >= 500:
        return handle_internal_error(error)
    response, status = error_response(error.code, error.description or "")
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, status


def handle_internal_error(error: HTTPException) -> tuple[Response, int]:
    """Answer an unexpected failure without showing internals; Flask logged it."""
    return error_response(
        500, "The server could not answer this request. It has been logged."
    )


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on ``app``."""
    app.register_error_handler(StarPunkError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_internal_error)
