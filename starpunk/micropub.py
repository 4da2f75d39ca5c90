"""Micropub endpoint: create notes from form-encoded or JSON requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from starpunk.auth import authenticate_token, bearer_token
from starpunk.db import get_db
from starpunk.errors import InvalidInput, Unauthorized
from starpunk.notes import create_note

bp = Blueprint("micropub", __name__)

CREATE_SCOPE = "create"
POST_STATUSES = ("published", "draft")


@dataclass(frozen=True)
class Entry:
    """The parts of a Micropub h-entry that StarPunk keeps."""

    content: str
    content_type: str = "markdown"
    name: str | None = None
    slug: str | None = None
    published: bool = True


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def request_token() -> str:
    """Return the access token from the Authorization header or the form.

    Raises Unauthorized when there is none and InvalidInput when both are sent.
    """
    header_token = bearer_token()
    form_token = None
    if request.mimetype in FORM_TYPES:
        form_token = request.form.get("access_token")
    if header_token and form_token:
        raise InvalidInput("Send the access token in the header or the body, not both.")
    token = header_token or form_token
    if not token:
        raise Unauthorized("An access token is required.")
    return token


def _published(status: Any) -> bool:
    status = status or "published"
    if status not in POST_STATUSES:
        raise InvalidInput(
            f"post-status must be {' or '.join(POST_STATUSES)}, got {status!r}."
        )
    return status == "published"


def _text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string.")
    return value


def entry_from_form() -> Entry:
    """Read an h-entry from a form-encoded Micropub request."""
    form = request.form
    if form.get("h", "entry") != "entry":
        raise InvalidInput(f"Only h=entry can be created, got h={form.get('h')!r}.")
    if "action" in form:
        raise InvalidInput(f"The action {form['action']!r} is not supported.")
    return Entry(
        content=form.get("content", ""),
        name=form.get("name"),
        slug=form.get("mp-slug"),
        published=_published(form.get("post-status")),
    )


def _first(properties: dict[str, Any], name: str) -> Any:
    values = properties.get(name)
    if values is None:
        return None
    if not isinstance(values, list) or not values:
        raise InvalidInput(f"Property {name!r} must be a non-empty list.")
    return values[0]


def _json_content(value: Any) -> tuple[str, str]:
    if isinstance(value, str):
        return value, "markdown"
    if isinstance(value, dict):
        for key, content_type in (("html", "html"), ("markdown", "markdown")):
            if isinstance(value.get(key), str):
                return value[key], content_type
        if isinstance(value.get("value"), str):
            return value["value"], "markdown"
    raise InvalidInput('content must be a string or an object such as {"html": ...}.')


def entry_from_json() -> Entry:
    """Read an h-entry from a JSON Micropub request."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        # The json module raises RecursionError, not ValueError, for deeply
        # nested input, so ``silent`` does not cover it.
        body = None
    if not isinstance(body, dict):
        raise InvalidInput(
            "The request body is not a JSON object (or is nested too deeply)."
        )
    if "action" in body:
        raise InvalidInput(f"The action {body['action']!r} is not supported.")
    if body.get("type") != ["h-entry"]:
        raise InvalidInput('Only {"type": ["h-entry"]} can be created.')
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise InvalidInput("properties must be an object.")
    content, content_type = _json_content(_first(properties, "content") or "")
    return Entry(
        content=content,
        content_type=content_type,
        name=_text(_first(properties, "name"), "name"),
        slug=_text(_first(properties, "mp-slug"), "mp-slug"),
        published=_published(_first(properties, "post-status")),
    )


@bp.post("/micropub")
def create() -> Response:
    """Create a note; answer 201 with its permalink in ``Location``."""
    authenticate_token(request_token(), CREATE_SCOPE)
    if request.is_json:
        entry = entry_from_json()
    elif request.mimetype in FORM_TYPES:
        entry = entry_from_form()
    else:
        raise InvalidInput(
            "Send the note as application/x-www-form-urlencoded, "
            f"multipart/form-data or application/json, not {request.mimetype!r}."
        )
    if not entry.content.strip():
        raise InvalidInput("content is required.")

    note = create_note(
        get_db(),
        entry.content,
        title=entry.name,
        slug=entry.slug,
        published=entry.published,
        content_type=entry.content_type,
    )
    location = current_app.config["SITE_URL"] + url_for("public.note", slug=note.slug)
    return Response(status=201, headers={"Location": location})


@bp.get("/micropub")
def query() -> Response:
    """Answer ``q=config`` and ``q=syndicate-to`` queries."""
    authenticate_token(request_token(), CREATE_SCOPE)
    question = request.args.get("q")
    if question == "config":
        return jsonify(
            {"syndicate-to": [], "post-types": [{"type": "note", "name": "Note"}]}
        )
    if question == "syndicate-to":
        return jsonify({"syndicate-to": []})
    raise InvalidInput(
        f"Unsupported query q={question!r}; supported are config and syndicate-to."
    )
