"""Notes: create, edit, publish, soft-delete and list them in the app database."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from starpunk.clock import format_time, parse_time, utc_now
from starpunk.db import transaction
from starpunk.errors import Gone, InvalidInput, NotFound
from starpunk.markup import clean_text, render_note, summarize
from starpunk.slugs import custom_slug, slugify, unique_slug

CONTENT_TYPES = ("markdown", "html")
MAX_TITLE_LENGTH = 200


@dataclass(frozen=True)
class Note:
    """One note as stored, with its sanitized HTML."""

    id: int
    slug: str
    title: str | None
    content: str
    content_type: str
    content_html: str
    published: bool
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    deleted_at: datetime | None

    @property
    def display_title(self) -> str:
        """Return the title, or a short summary of the body for untitled notes."""
        return self.title or summarize(self.content_html) or self.slug


def _note_from_row(row: sqlite3.Row) -> Note:
    return Note(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        content=row["content"],
        content_type=row["content_type"],
        content_html=row["content_html"],
        published=bool(row["published"]),
        created_at=parse_time(row["created_at"]),
        updated_at=parse_time(row["updated_at"]),
        published_at=parse_time(row["published_at"]),
        deleted_at=parse_time(row["deleted_at"]),
    )


def _clean_fields(
    content: str, title: str | None, content_type: str
) -> tuple[str, str | None]:
    if content_type not in CONTENT_TYPES:
        raise InvalidInput(
            f"Content type {content_type!r} is not supported; "
            f"use {' or '.join(CONTENT_TYPES)}."
        )
    content = clean_text(content).strip()
    if not content:
        raise InvalidInput("A note needs some content.")
    title = " ".join(clean_text(title or "").split()) or None
    if title is not None and len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"A title may be at most {MAX_TITLE_LENGTH} characters.")
    return content, title


def create_note(
    db: sqlite3.Connection,
    content: str,
    *,
    title: str | None = None,
    slug: str | None = None,
    published: bool = True,
    content_type: str = "markdown",
) -> Note:
    """Store a new note and return it; the slug is made unique with -2, -3...

    Raises InvalidInput for empty content, a bad slug or an unknown content type.
    """
    content, title = _clean_fields(content, title, content_type)
    content_html = render_note(content, content_type)
    if slug and slug.strip():
        base = custom_slug(slug)
    else:
        base = slugify(title or summarize(content_html, 40)) or "note"
    now = format_time(utc_now())

    with transaction(db):
        final_slug = unique_slug(db, base)
        cursor = db.execute(
            "INSERT INTO notes (slug, title, content, content_type, content_html,"
            " published, created_at, updated_at, published_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                final_slug,
                title,
                content,
                content_type,
                content_html,
                int(published),
                now,
                now,
                now if published else None,
            ),
        )
    return get_note(db, cursor.lastrowid)


def update_note(
    db: sqlite3.Connection, note_id: int, content: str, *, title: str | None = None
) -> Note:
    """Replace the body and title of a note; its slug never changes."""
    note = get_note(db, note_id)
    content, title = _clean_fields(content, title, note.content_type)
    db.execute(
        "UPDATE notes SET content = ?, title = ?, content_html = ?, updated_at = ?"
        " WHERE id = ? AND deleted_at IS NULL",
        (
            content,
            title,
            render_note(content, note.content_type),
            format_time(utc_now()),
            note_id,
        ),
    )
    return get_note(db, note_id)


def set_published(db: sqlite3.Connection, note_id: int, published: bool) -> Note:
    """Publish or unpublish a note; the first publication sets its date."""
    get_note(db, note_id)
    now = format_time(utc_now())
    db.execute(
        "UPDATE notes SET published = ?, updated_at = ?,"
        " published_at = COALESCE(published_at, CASE WHEN ? THEN ? END)"
        " WHERE id = ?",
        (int(published), now, int(published), now, note_id),
    )
    return get_note(db, note_id)


def delete_note(db: sqlite3.Connection, note_id: int) -> None:
    """Soft-delete a note: it disappears everywhere but keeps its slug."""
    get_note(db, note_id)
    db.execute(
        "UPDATE notes SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
        (format_time(utc_now()), note_id),
    )


def get_note(db: sqlite3.Connection, note_id: int) -> Note:
    """Return a note that is not deleted, published or not; raise NotFound."""
    row = db.execute(
        "SELECT * FROM notes WHERE id = ? AND deleted_at IS NULL", (note_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"There is no note with id {note_id}.")
    return _note_from_row(row)


def get_published_note(db: sqlite3.Connection, slug: str) -> Note:
    """Return the published note at ``slug``; raise NotFound, or Gone if deleted."""
    row = db.execute(
        "SELECT * FROM notes WHERE slug = ? AND published = 1", (slug,)
    ).fetchone()
    if row is None:
        raise NotFound(f"There is no note at {slug!r}.")
    if row["deleted_at"] is not None:
        raise Gone(f"The note at {slug!r} has been deleted.")
    return _note_from_row(row)


def count_published(db: sqlite3.Connection) -> int:
    """Return how many notes the public can see."""
    row = db.execute(
        "SELECT count(*) FROM notes WHERE published = 1 AND deleted_at IS NULL"
    ).fetchone()
    return row[0]


def list_published(
    db: sqlite3.Connection, *, limit: int, offset: int = 0
) -> list[Note]:
    """Return published, undeleted notes, newest first."""
    rows = db.execute(
        "SELECT * FROM notes WHERE published = 1 AND deleted_at IS NULL"
        " ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [_note_from_row(row) for row in rows]


def list_all(db: sqlite3.Connection) -> list[Note]:
    """Return every undeleted note, drafts included, newest first."""
    rows = db.execute(
        "SELECT * FROM notes WHERE deleted_at IS NULL ORDER BY created_at DESC, id DESC"
    )
    return [_note_from_row(row) for row in rows]
