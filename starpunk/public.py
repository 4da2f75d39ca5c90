"""Public pages: the paginated index and note permalinks."""

from __future__ import annotations

import math

from flask import Blueprint, current_app, render_template, request

from starpunk.db import get_db
from starpunk.errors import InvalidInput, NotFound
from starpunk.notes import count_published, get_published_note, list_published

bp = Blueprint("public", __name__)


def requested_page() -> int:
    """Return the ``page`` query parameter; raise InvalidInput unless it is >= 1."""
    raw = request.args.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(
            f"page must be a whole number of at least 1, got {raw[:40]!r}."
        )
    return int(raw)


@bp.get("/")
def index() -> str:
    """List published notes, newest first, a page at a time."""
    page = requested_page()
    per_page = current_app.config["NOTES_PER_PAGE"]
    db = get_db()
    total = count_published(db)
    pages = max(1, math.ceil(total / per_page))
    if page > pages:
        raise NotFound(f"There is no page {page}; the last page is {pages}.")

    notes = list_published(db, limit=per_page, offset=(page - 1) * per_page)
    return render_template("index.html", notes=notes, page=page, pages=pages)


@bp.get("/notes/<slug>")
def note(slug: str) -> str:
    """Show one published note with h-entry markup."""
    return render_template("note.html", note=get_published_note(get_db(), slug))
