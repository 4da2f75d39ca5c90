"""Notes storage, slugs and Markdown sanitizing."""

from __future__ import annotations

import sqlite3

import pytest
from freezegun import freeze_time

from starpunk import notes
from starpunk.errors import Gone, InvalidInput, NotFound
from starpunk.markup import render_markdown, sanitize_html
from starpunk.slugs import slugify


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("Café über straße", "café-über-straße"),
        ("東京 の 夜", "東京-の-夜"),
        ("Привет мир", "привет-мир"),
        ("  --snake_case and   spaces-- ", "snake-case-and-spaces"),
        ("!!!", ""),
        ("ﬁne ① full-width ＡＢＣ", "fine-1-full-width-abc"),
    ],
)
def test_slugify_keeps_letters_of_any_script(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_slugify_limits_length() -> None:
    assert len(slugify("word " * 100)) <= 80
    assert not slugify("word " * 100).endswith("-")


def test_colliding_slugs_get_numbers(db: sqlite3.Connection) -> None:
    slugs = [notes.create_note(db, "Text", title="Same title").slug for _ in range(3)]

    assert slugs == ["same-title", "same-title-2", "same-title-3"]


def test_custom_slug_is_normalized_and_made_unique(db: sqlite3.Connection) -> None:
    first = notes.create_note(db, "One", slug="My Slug")
    second = notes.create_note(db, "Two", slug="my-slug")

    assert (first.slug, second.slug) == ("my-slug", "my-slug-2")


def test_custom_slug_without_letters_is_rejected(db: sqlite3.Connection) -> None:
    with pytest.raises(InvalidInput, match="Slug"):
        notes.create_note(db, "Text", slug="///")


def test_unicode_slug_from_content(db: sqlite3.Connection) -> None:
    note = notes.create_note(db, "Ünïcödé notes are fine")

    assert note.slug == "ünïcödé-notes-are-fine"


def test_deleted_note_keeps_its_slug(db: sqlite3.Connection) -> None:
    first = notes.create_note(db, "Text", title="Reused")
    notes.delete_note(db, first.id)

    assert notes.create_note(db, "Text", title="Reused").slug == "reused-2"
    with pytest.raises(Gone):
        notes.get_published_note(db, "reused")


def test_empty_content_is_rejected(db: sqlite3.Connection) -> None:
    with pytest.raises(InvalidInput, match="content"):
        notes.create_note(db, "   \n ")


def test_control_characters_and_surrogates_are_dropped(db: sqlite3.Connection) -> None:
    note = notes.create_note(db, "bell\x07 null\x00 half\ud800 ok")

    assert note.content == "bell null half ok"


@freeze_time("2024-03-01 12:00:00")
def test_times_are_utc_and_publication_sets_date(db: sqlite3.Connection) -> None:
    draft = notes.create_note(db, "Draft", published=False)
    assert draft.published_at is None
    assert draft.created_at.isoformat() == "2024-03-01T12:00:00+00:00"

    with freeze_time("2024-03-02 08:00:00"):
        published = notes.set_published(db, draft.id, True)

    assert published.published_at.isoformat() == "2024-03-02T08:00:00+00:00"
    assert published.updated_at.isoformat() == "2024-03-02T08:00:00+00:00"


def test_update_keeps_slug_and_rerenders(db: sqlite3.Connection) -> None:
    note = notes.create_note(db, "*old*", title="Title")

    updated = notes.update_note(db, note.id, "**new**", title="Other title")

    assert updated.slug == "title"
    assert updated.title == "Other title"
    assert "<strong>new</strong>" in updated.content_html


def test_drafts_and_deleted_notes_are_not_public(db: sqlite3.Connection) -> None:
    notes.create_note(db, "Draft", published=False, slug="draft")
    gone = notes.create_note(db, "Gone", slug="gone")
    notes.delete_note(db, gone.id)
    notes.create_note(db, "Visible", slug="visible")

    public = notes.list_published(db, limit=10)

    assert [note.slug for note in public] == ["visible"]
    assert notes.count_published(db) == 1
    with pytest.raises(NotFound):
        notes.get_published_note(db, "draft")
    assert [note.slug for note in notes.list_all(db)] == ["visible", "draft"]


def test_missing_note_raises_not_found(db: sqlite3.Connection) -> None:
    with pytest.raises(NotFound, match="42"):
        notes.get_note(db, 42)


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "Hi <script src='//evil.example/x.js'></script>",
        '<img src="x" onerror="alert(1)">',
        "[click](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src='//evil.example'></iframe>",
        "<style>body{display:none}</style>",
    ],
)
def test_markdown_output_is_sanitized(source: str) -> None:
    rendered = render_markdown(source).lower()

    for marker in ("<script", "onerror", "javascript:", "<iframe", "<style"):
        assert marker not in rendered


def test_markdown_features_survive_sanitizing() -> None:
    rendered = render_markdown(
        "# Head\n\n*em* **strong** [link](https://example.org)\n\n```\ncode\n```"
    )

    assert "<h1>Head</h1>" in rendered
    assert "<em>em</em>" in rendered
    assert "<strong>strong</strong>" in rendered
    assert 'href="https://example.org"' in rendered
    assert "<pre><code>code" in rendered


def test_html_notes_are_sanitized() -> None:
    assert sanitize_html("<p onclick='x()'>Hi</p><script>x()</script>") == "<p>Hi</p>"
