"""Public pages: index, permalinks, static files and error pages."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time

from starpunk import notes


def test_empty_index(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert "Nothing published yet" in response.get_data(as_text=True)


def test_index_lists_published_notes_newest_first(
    client: FlaskClient, db: sqlite3.Connection
) -> None:
    with freeze_time("2024-01-01"):
        notes.create_note(db, "Older note body", title="Older")
    with freeze_time("2024-01-02"):
        notes.create_note(db, "Newer note body", title="Newer")
    notes.create_note(db, "Secret draft body", published=False)

    page = client.get("/").get_data(as_text=True)

    assert page.index("Newer") < page.index("Older")
    assert "Secret draft body" not in page
    assert 'class="h-feed"' in page
    assert page.count('class="h-entry note"') == 2


def test_index_pagination(
    make_app: Callable[..., Flask], db_factory: Callable[[Flask], sqlite3.Connection]
) -> None:
    app = make_app(NOTES_PER_PAGE=2)
    db = db_factory(app)
    for number in range(5):
        with freeze_time(f"2024-01-0{number + 1}"):
            notes.create_note(db, f"Body {number}", title=f"Note number {number}")
    client = app.test_client()

    first = client.get("/").get_data(as_text=True)
    third = client.get("/?page=3")

    assert "Note number 4" in first and "Note number 3" in first
    assert "Note number 2" not in first
    assert 'rel="next" href="/?page=2"' in first
    assert third.status_code == 200
    assert "Note number 0" in third.get_data(as_text=True)
    assert client.get("/?page=4").status_code == 404


@pytest.mark.parametrize(
    "page", ["0", "-1", "abc", "1.5", "", "٣", "9" * 400, "%ff", "1;drop"]
)
def test_bad_page_parameter_is_never_a_server_error(
    client: FlaskClient, page: str
) -> None:
    response = client.get(f"/?page={page}")

    assert response.status_code in (400, 404)
    assert "<html" in response.get_data(as_text=True)


def test_huge_page_number_is_not_found(client: FlaskClient) -> None:
    assert client.get("/?page=" + "9" * 30).status_code == 404


def test_permalink_has_microformats(
    client: FlaskClient, db: sqlite3.Connection
) -> None:
    note = notes.create_note(db, "Some *text*", title="A title")

    page = client.get(f"/notes/{note.slug}").get_data(as_text=True)

    assert 'class="h-entry note"' in page
    assert '<h1 class="p-name">A title</h1>' in page
    assert '<div class="e-content"><p>Some <em>text</em></p></div>' in page
    assert 'class="u-url u-uid" href="http://127.0.0.1:8000/notes/a-title"' in page
    assert 'class="dt-published"' in page
    assert 'class="p-author h-card" href="http://127.0.0.1:8000/">StarPunk</a>' in page
    assert 'rel="micropub"' in page


def test_unicode_permalink(client: FlaskClient, db: sqlite3.Connection) -> None:
    note = notes.create_note(db, "Text", title="Café über")

    response = client.get("/notes/caf%C3%A9-%C3%BCber")

    assert note.slug == "café-über"
    assert response.status_code == 200
    assert "Café über" in response.get_data(as_text=True)


def test_draft_permalink_is_not_found(
    client: FlaskClient, db: sqlite3.Connection
) -> None:
    note = notes.create_note(db, "Draft", published=False)

    assert client.get(f"/notes/{note.slug}").status_code == 404


def test_deleted_permalink_is_gone(client: FlaskClient, db: sqlite3.Connection) -> None:
    note = notes.create_note(db, "Soon gone")
    notes.delete_note(db, note.id)

    response = client.get(f"/notes/{note.slug}")

    assert response.status_code == 410
    assert "Gone" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "source",
    ["<script>alert('x')</script>Hello", "Hello<script src=//e.example></script>"],
)
def test_script_never_reaches_pages(
    client: FlaskClient, db: sqlite3.Connection, source: str
) -> None:
    note = notes.create_note(db, source, title="<script>title()</script>")

    for path in ("/", f"/notes/{note.slug}"):
        page = client.get(path).get_data(as_text=True)
        assert "<script" not in page
        assert "&lt;script&gt;title()" in page


@pytest.mark.parametrize("path", ["/nothing-here", "/notes/", "/notes/%ff%fe"])
def test_styled_not_found(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)
    assert "style.css" in response.get_data(as_text=True)


@pytest.mark.parametrize("raw_path", [b"/notes/\xff\xfe", b"/\xc3(", b"/admin/\xff"])
def test_invalid_utf8_in_raw_path_does_not_fail(
    client: FlaskClient, raw_path: bytes
) -> None:
    # WSGI hands the path over as bytes decoded with latin-1.
    response = client.get(
        "/", environ_overrides={"PATH_INFO": raw_path.decode("latin-1")}
    )

    assert response.status_code == 404


def test_method_not_allowed_is_styled(client: FlaskClient) -> None:
    response = client.post("/")

    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert "Method not allowed" in response.get_data(as_text=True)


def test_not_found_as_json_when_asked(client: FlaskClient) -> None:
    response = client.get("/missing", headers={"Accept": "application/json"})

    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_server_error_page_hides_details(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(TESTING=False)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")

    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong" in body
    assert "secret internals" not in body
    assert "Traceback" not in body


def test_static_stylesheet(client: FlaskClient) -> None:
    response = client.get("/static/style.css")

    assert response.status_code == 200
    assert response.mimetype == "text/css"
    response.close()


def test_pages_name_an_icon_that_exists(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert 'rel="icon"' in html and "/static/favicon.svg" in html
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200
    assert icon.get_data(as_text=True).startswith("<svg")


@pytest.mark.parametrize("path", ["/", "/admin/login", "/feed.atom", "/no-such-page"])
def test_answers_carry_security_headers(client: FlaskClient, path: str) -> None:
    headers = client.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize("path", ["/admin/login", "/admin/", "/health?detailed=1"])
def test_admin_answers_are_not_cached_and_load_only_own_resources(
    client: FlaskClient, path: str
) -> None:
    headers = client.get(path).headers
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in headers["Content-Security-Policy"]


def test_public_pages_stay_cacheable(client: FlaskClient) -> None:
    headers = client.get("/").headers
    assert "no-store" not in headers.get("Cache-Control", "")
    assert "Content-Security-Policy" not in headers
