"""Who is asking: the admin session, bearer tokens and the decorators using them."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, redirect, request, session, url_for

from starpunk.credentials import Token, password_hash, verify_token
from starpunk.csrf import rotate_csrf_token
from starpunk.db import get_db
from starpunk.errors import InsufficientScope, Unauthorized

SESSION_KEY = "admin"
ADMIN_SCOPE = "admin"

View = TypeVar("View", bound=Callable[..., Any])


def log_in() -> None:
    """Start an admin session; the session and CSRF token are renewed.

    The session remembers which password it was opened with, so changing the
    password ends every session opened before.
    """
    session.clear()
    session[SESSION_KEY] = _password_fingerprint()
    session.permanent = True
    rotate_csrf_token()


def log_out() -> None:
    """End the admin session."""
    session.clear()


def has_admin_session() -> bool:
    """Return True when the request carries a session opened with this password."""
    opened_with = session.get(SESSION_KEY)
    if not isinstance(opened_with, str):
        return False
    current = _password_fingerprint()
    return current is not None and hmac.compare_digest(opened_with, current)


def _password_fingerprint() -> str | None:
    stored = password_hash(get_db(), current_app.config)
    if stored is None:
        return None
    return hashlib.sha256(stored.encode("utf-8")).hexdigest()[:32]


def bearer_token() -> str | None:
    """Return the token of an ``Authorization: Bearer`` header, if there is one.

    Raises Unauthorized when an Authorization header is present but is not a
    bearer token.
    """
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def authenticate_token(token: str, scope: str) -> Token:
    """Return the stored token for ``token`` if it is valid and has ``scope``.

    Raises Unauthorized for an unknown or revoked token and InsufficientScope
    when the token lacks ``scope``. The token is kept on ``g.token``.
    """
    found = verify_token(get_db(), token)
    if found is None:
        raise Unauthorized("The access token is not valid.")
    if scope not in found.scopes:
        raise InsufficientScope(f"The access token lacks the {scope!r} scope.")
    g.token = found
    return found


def admin_required(api: bool = False) -> Callable[[View], View]:
    """Let a view through for the logged-in admin or a bearer token with admin scope.

    Anonymous requests to HTML pages (``api=False``) are redirected to the
    login page; with ``api=True`` (JSON, CSV) they get 401 with a JSON body
    ``{"error": "unauthorized", ...}``. A bearer token that is wrong always
    answers 401, and one without the ``admin`` scope answers 403. Use as
    ``@admin_required()`` or ``@admin_required(api=True)``.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if api or "Authorization" in request.headers:
                # Programs speak JSON: errors for them are JSON, not pages.
                g.wants_json = True
            token = bearer_token()
            if token is not None:
                authenticate_token(token, ADMIN_SCOPE)
            elif not has_admin_session():
                if api:
                    raise Unauthorized("Log in or send an admin bearer token.")
                return redirect(
                    url_for("admin.login", next=request.full_path.rstrip("?"))
                )
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def admin_api_required(view: View) -> View:
    """Shorthand for ``@admin_required(api=True)`` on JSON and CSV endpoints."""
    return admin_required(api=True)(view)
