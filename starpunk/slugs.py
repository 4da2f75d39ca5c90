"""Slugs: readable, Unicode-aware URL names for notes, unique per site."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from itertools import count

from starpunk.errors import InvalidInput

MAX_SLUG_LENGTH = 80
_SEPARATORS = re.compile(r"[^\w]+|_+")
_DASHES = re.compile(r"-{2,}")


def slugify(text: str, max_length: int = MAX_SLUG_LENGTH) -> str:
    """Turn ``text`` into a lowercase slug of letters, digits and dashes.

    Letters and digits of any script are kept ("Café über" -> "café-über");
    everything else becomes a dash. The result may be empty.
    """
    normalized = unicodedata.normalize("NFKC", text).lower()
    slug = _DASHES.sub("-", _SEPARATORS.sub("-", normalized)).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rstrip("-")
    return slug


def custom_slug(requested: str) -> str:
    """Normalize a slug chosen by the author; raise InvalidInput if nothing is left."""
    slug = slugify(requested)
    if not slug:
        raise InvalidInput(
            f"Slug {requested!r} has no letters or digits; "
            "use words such as 'my-first-note'."
        )
    return slug


def unique_slug(db: sqlite3.Connection, base: str) -> str:
    """Return ``base``, or ``base-2``, ``base-3``... whichever no note uses yet.

    Deleted notes keep their slugs so that old permalinks never point at a
    different note. Call inside the write transaction that inserts the note.
    """
    for number in count(1):
        candidate = base if number == 1 else f"{base}-{number}"
        taken = db.execute(
            "SELECT 1 FROM notes WHERE slug = ?", (candidate,)
        ).fetchone()
        if taken is None:
            return candidate
    raise AssertionError("unreachable")
