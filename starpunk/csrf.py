"""CSRF protection for cookie-authenticated forms: a per-session token."""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

from starpunk.credentials import verify_token
from starpunk.db import get_db

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

    Requests carrying a valid bearer token need no cookie an attacker could
    ride on, so they are exempt. Any other Authorization header lifts nothing:
    views such as login and logout never look at it.
    """
    if request.method not in UNSAFE_METHODS:
        return
    if _has_valid_bearer_token():
        return
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FORM_FIELD) or request.headers.get(HEADER, "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(
            400,
            description="The form's CSRF token is missing or out of date; "
            "reload the page and try again.",
        )


def _has_valid_bearer_token() -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return verify_token(get_db(), token.strip()) is not None
