"""A small, realistic Flask site to measure monitoring overhead on.

It has the shape of a StarPunk page: the index runs one query over 50 notes
through :func:`starpunk.monitoring.connect` and renders a Jinja template
that extends a layout; a note page looks one note up by slug; ``/health`` is
the trivial endpoint.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask, abort, g, render_template

from starpunk.monitoring import Monitoring, connect

NOTE_COUNT = 50
TEMPLATES = Path(__file__).resolve().parent / "templates"
WORDS = (
    "indieweb notes own your data publish syndicate elsewhere webmention micropub "
    "small site quiet morning coffee walk river bridge light reading garden code"
).split()


def note_slug(index: int) -> str:
    """Slug of the ``index``-th seeded note."""
    return f"note-{index}"


def seed_app_db(path: Path, count: int = NOTE_COUNT) -> None:
    """Create the notes table and fill it with ``count`` published notes."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, "
            "slug TEXT UNIQUE NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, "
            "published INTEGER NOT NULL, created TEXT NOT NULL)"
        )
        conn.execute("CREATE INDEX IF NOT EXISTS notes_created ON notes (created)")
        start = datetime(2024, 1, 1, tzinfo=UTC)
        rows = []
        for index in range(count):
            words = [WORDS[(index * 7 + n) % len(WORDS)] for n in range(120)]
            body = " ".join(words[:60]) + ".\n\n" + " ".join(words[60:]) + "."
            created = (start + timedelta(hours=index * 13)).isoformat()
            rows.append((note_slug(index), f"Note number {index}", body, 1, created))
        conn.executemany(
            "INSERT OR IGNORE INTO notes (slug, title, body, published, created) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        conn.commit()
    finally:
        conn.close()


def create_app(data: Path, config: dict | None = None) -> Flask:
    """Build the demo site over ``data/app.db``; ``config`` may set METRICS_* keys."""
    app = Flask(__name__, template_folder=str(TEMPLATES))
    app.config.update(SECRET_KEY="bench", METRICS_DB=str(data / "metrics.db"))
    app.config.update(config or {})
    database = data / "app.db"
    Monitoring(app)

    def db() -> sqlite3.Connection:
        if "db" not in g:
            g.db = connect(database)
            g.db.row_factory = sqlite3.Row
        return g.db

    @app.teardown_appcontext
    def close_db(_exc: BaseException | None) -> None:
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    @app.route("/")
    def index():
        notes = db().execute(
            "SELECT slug, title, body, created FROM notes WHERE published = 1 "
            "ORDER BY created DESC LIMIT 50"
        )
        return render_template("index.html", notes=notes.fetchall(), site_name="Demo")

    @app.route("/notes/<slug>")
    def note(slug: str):
        row = (
            db()
            .execute(
                "SELECT slug, title, body, created FROM notes "
                "WHERE slug = ? AND published = 1",
                (slug,),
            )
            .fetchone()
        )
        if row is None:
            abort(404)
        return render_template("note.html", note=row, site_name="Demo")

    @app.route("/health")
    def health():
        return {"status": "ok"}

    return app
