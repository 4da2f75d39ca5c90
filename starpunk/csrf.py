"""CSRF protection for cookie-authenticated forms: a per-session token."""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

SESSION_KEY = "csrf_token"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token() -> str:
    """Return this session's CSRF token, creating it on first use."""
    token = session.get(SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def rotate_csrf_token() -> None:
    """Forget the current token; the next form gets a fresh one."""
    session.pop(SESSION_KEY, None)


def check_csrf() -> None:
    """Abort with 400 when an unsafe request lacks the session's CSRF token.

    Requests authenticated by a bearer token carry no cookies an attacker could
    ride on, so they are exempt; the token itself is checked by the view.
    """
    if request.method not in UNSAFE_METHODS:
        return
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FORM_FIELD) or request.headers.get(HEADER, "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(
            400,
            description="The form's CSRF token is missing or out of date; "
            "reload the page and try again.",
        )
