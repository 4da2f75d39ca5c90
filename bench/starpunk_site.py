"""StarPunk's own site as a benchmark subject: ``starpunk.create_app`` over a
temporary data folder seeded with 30 Markdown notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

NOTE_COUNT = 30
SECRET_KEY = "bench-secret-key-not-for-production"
PARAGRAPHS = (
    "Walked along the river this morning and wrote down a few thoughts about "
    "owning your own words on the *IndieWeb*.",
    "A personal site is a small thing: some notes, a feed, a way for others to "
    "reply. It does not need much, but it needs to be **yours**.",
    "Things I want from a CMS:\n\n- notes that load fast\n- feeds that validate\n"
    "- numbers that tell me when something is slow",
    "More at [the IndieWeb wiki](https://indieweb.org/) and in my earlier notes.",
)


def note_slug(index: int) -> str:
    """Slug of the ``index``-th seeded note."""
    return f"note-{index}"


def note_path(index: int) -> str:
    """Path of the ``index``-th seeded note's page."""
    return f"/notes/{note_slug(index)}"


def create_site_app(folder: Path, config: dict[str, Any] | None = None):
    """StarPunk over the data folder ``folder``; ``config`` may set METRICS_* keys."""
    from starpunk import create_app

    return create_app(
        {"DATA_PATH": str(folder), "SECRET_KEY": SECRET_KEY, **(config or {})}
    )


def seed_site(folder: Path) -> None:
    """Create the data folder and publish ``NOTE_COUNT`` notes through the app."""
    from starpunk.db import get_db
    from starpunk.notes import create_note

    app = create_site_app(folder, {"METRICS_ENABLED": False})
    with app.app_context():
        db = get_db()
        for index in range(NOTE_COUNT):
            body = "\n\n".join(
                PARAGRAPHS[(index + n) % len(PARAGRAPHS)] for n in range(3)
            )
            note = create_note(
                db, body, title=f"Note number {index}", slug=note_slug(index)
            )
            if note.slug != note_slug(index):
                raise RuntimeError(f"seeded note got slug {note.slug!r}")
