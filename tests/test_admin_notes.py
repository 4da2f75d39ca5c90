"""Admin note management: list, create, edit, publish, unpublish, delete."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from starpunk import notes
from tests.conftest import csrf_from


@pytest.fixture
def csrf(login: Callable[..., str]) -> str:
    """Log the client in and return its CSRF token."""
    return login()


@pytest.mark.parametrize("path", ["/admin/", "/admin/notes/new", "/admin/notes/1/edit"])
def test_anonymous_pages_redirect_to_login(
    client: FlaskClient, db: sqlite3.Connection, path: str
) -> None:
    notes.create_note(db, "Existing")

    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/notes/new",
        "/admin/notes/1/edit",
        "/admin/notes/1/publish",
        "/admin/notes/1/unpublish",
        "/admin/notes/1/delete",
    ],
)
def test_anonymous_cannot_change_notes(
    client: FlaskClient, db: sqlite3.Connection, path: str
) -> None:
    notes.create_note(db, "Existing", published=False)
    csrf = csrf_from(client.get("/admin/login").get_data(as_text=True))

    without_token = client.post(path, data={"content": "Changed"})
    with_token = client.post(path, data={"content": "Changed", "csrf_token": csrf})

    assert without_token.status_code == 400
    assert with_token.status_code == 302
    assert with_token.headers["Location"].startswith("/admin/login")
    note = notes.get_note(db, 1)
    assert (note.content, note.published) == ("Existing", False)


def test_list_shows_drafts_and_published(
    client: FlaskClient, db: sqlite3.Connection, csrf: str
) -> None:
    notes.create_note(db, "Public text", title="Public one")
    notes.create_note(db, "Draft text", title="Draft one", published=False)

    page = client.get("/admin/").get_data(as_text=True)

    assert "Public one" in page and "Draft one" in page
    assert "Published" in page and "Draft" in page


def test_create_published_note(
    client: FlaskClient, db: sqlite3.Connection, csrf: str
) -> None:
    assert client.get("/admin/notes/new").status_code == 200

    response = client.post(
        "/admin/notes/new",
        data={
            "csrf_token": csrf,
            "title": "Hello",
            "content": "First **post**",
            "action": "publish",
        },
    )

    assert response.status_code == 302
    note = notes.get_published_note(db, "hello")
    assert "<strong>post</strong>" in note.content_html
    assert "Saved" in client.get("/admin/").get_data(as_text=True)


def test_create_draft_with_custom_slug(
    client: FlaskClient, db: sqlite3.Connection, csrf: str
) -> None:
    client.post(
        "/admin/notes/new",
        data={
            "csrf_token": csrf,
            "content": "Draft",
            "slug": "Mein Entwurf",
            "action": "draft",
        },
    )

    [note] = notes.list_all(db)
    assert note.slug == "mein-entwurf"
    assert note.published is False


def test_create_without_content_shows_error(
    client: FlaskClient, db: sqlite3.Connection, csrf: str
) -> None:
    response = client.post(
        "/admin/notes/new",
        data={"csrf_token": csrf, "title": "Kept title", "content": " "},
    )

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "needs some content" in page
    assert 'value="Kept title"' in page
    assert notes.list_all(db) == []


def test_create_without_csrf_is_rejected(
    client: FlaskClient, db: sqlite3.Connection, csrf: str
) -> None:
    response = client.post("/admin/notes/new", data={"content": "Sneaky"})
    forged = client.post(
        "/admin/notes/new", data={"content": "Sneaky", "csrf_token": "forged"}
    )

    assert response.status_code == forged.status_code == 400
    assert notes.list_all(db) == []


def test_csrf_header_is_accepted(
    client: FlaskClient, db: sqlite3.Connection, csrf: str
) -> None:
    response = client.post(
        "/admin/notes/new",
        data={"content": "Via header"},
        headers={"X-CSRF-Token": csrf},
    )

    assert response.status_code == 302
    assert len(notes.list_all(db)) == 1


def test_edit_note(client: FlaskClient, db: sqlite3.Connection, csrf: str) -> None:
    note = notes.create_note(db, "Before", title="Title")
    form = client.get(f"/admin/notes/{note.id}/edit").get_data(as_text=True)
    assert "Before" in form

    response = client.post(
        f"/admin/notes/{note.id}/edit",
        data={"csrf_token": csrf, "title": "New title", "content": "After"},
    )

    assert response.status_code == 302
    edited = notes.get_note(db, note.id)
    assert (edited.title, edited.content, edited.slug) == (
        "New title",
        "After",
        "title",
    )


def test_edit_with_empty_content_keeps_note(
    client: FlaskClient, db: sqlite3.Connection, csrf: str
) -> None:
    note = notes.create_note(db, "Before")

    response = client.post(
        f"/admin/notes/{note.id}/edit", data={"csrf_token": csrf, "content": ""}
    )

    assert response.status_code == 400
    assert notes.get_note(db, note.id).content == "Before"


def test_edit_missing_note_is_404(client: FlaskClient, csrf: str) -> None:
    assert client.get("/admin/notes/999/edit").status_code == 404


def test_publish_and_unpublish(
    client: FlaskClient, db: sqlite3.Connection, csrf: str
) -> None:
    note = notes.create_note(db, "Text", title="Toggle", published=False)

    client.post(f"/admin/notes/{note.id}/publish", data={"csrf_token": csrf})
    assert client.get("/notes/toggle").status_code == 200

    client.post(f"/admin/notes/{note.id}/unpublish", data={"csrf_token": csrf})
    assert client.get("/notes/toggle").status_code == 404


def test_delete_note(client: FlaskClient, db: sqlite3.Connection, csrf: str) -> None:
    note = notes.create_note(db, "Text", title="Doomed")

    response = client.post(f"/admin/notes/{note.id}/delete", data={"csrf_token": csrf})

    assert response.status_code == 302
    assert client.get("/notes/doomed").status_code == 410
    assert "Doomed" not in client.get("/admin/").get_data(as_text=True)
    assert (
        client.post(
            f"/admin/notes/{note.id}/delete", data={"csrf_token": csrf}
        ).status_code
        == 404
    )


def test_token_can_manage_notes_without_csrf(
    client: FlaskClient, db: sqlite3.Connection, token: str
) -> None:
    note = notes.create_note(db, "Text", published=False)

    response = client.post(
        f"/admin/notes/{note.id}/publish",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 302
    assert notes.get_note(db, note.id).published is True


def test_oversized_form_is_413(client: FlaskClient, csrf: str) -> None:
    response = client.post(
        "/admin/notes/new",
        data={"csrf_token": csrf, "content": "x" * (2 * 1024 * 1024)},
    )

    assert response.status_code == 413
    assert "Too large" in response.get_data(as_text=True)


@pytest.mark.parametrize("note_id", [2**63, 10**30])
def test_note_ids_beyond_sqlite_integers_are_not_found(
    client: FlaskClient, csrf: str, note_id: int
) -> None:
    assert client.get(f"/admin/notes/{note_id}/edit").status_code == 404
    for action in ("publish", "unpublish", "delete"):
        response = client.post(
            f"/admin/notes/{note_id}/{action}", data={"csrf_token": csrf}
        )
        assert response.status_code == 404


def test_admin_pages_need_no_inline_script_under_their_policy(
    client: FlaskClient, db: sqlite3.Connection, csrf: str
) -> None:
    notes.create_note(db, "Text", title="A note")
    for path in ("/admin/", "/admin/notes/new", "/admin/notes/1/edit"):
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert not re.search(r"\son[a-z]+=", html), path
        assert "<script>" not in html
    listing = client.get("/admin/").get_data(as_text=True)
    assert 'data-confirm="Delete this note?"' in listing
    assert client.get("/static/admin.js").status_code == 200
