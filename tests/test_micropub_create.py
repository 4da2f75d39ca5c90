"""Micropub: creating notes from form and JSON requests, queries and errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from starpunk import notes


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_form_create(client: FlaskClient, db: sqlite3.Connection, token: str) -> None:
    response = client.post(
        "/micropub",
        data={"h": "entry", "content": "Hello *Micropub*", "name": "Greeting"},
        headers=bearer(token),
    )

    assert response.status_code == 201
    assert response.headers["Location"] == "http://127.0.0.1:8000/notes/greeting"
    note = notes.get_published_note(db, "greeting")
    assert "<em>Micropub</em>" in note.content_html
    assert client.get("/notes/greeting").status_code == 200


def test_form_create_with_slug_draft_and_body_token(
    client: FlaskClient, db: sqlite3.Connection, token: str
) -> None:
    response = client.post(
        "/micropub",
        data={
            "h": "entry",
            "content": "Later",
            "mp-slug": "Später",
            "post-status": "draft",
            "access_token": token,
        },
    )

    assert response.status_code == 201
    assert response.headers["Location"].endswith("/notes/sp%C3%A4ter")
    [note] = notes.list_all(db)
    assert (note.slug, note.published) == ("später", False)


def test_json_create(client: FlaskClient, db: sqlite3.Connection, token: str) -> None:
    response = client.post(
        "/micropub",
        json={
            "type": ["h-entry"],
            "properties": {
                "content": ["From **JSON**"],
                "name": ["Json note"],
                "mp-slug": ["json-slug"],
            },
        },
        headers=bearer(token),
    )

    assert response.status_code == 201
    assert response.headers["Location"].endswith("/notes/json-slug")
    note = notes.get_published_note(db, "json-slug")
    assert note.title == "Json note"
    assert "<strong>JSON</strong>" in note.content_html


def test_json_html_content_is_sanitized(
    client: FlaskClient, db: sqlite3.Connection, token: str
) -> None:
    client.post(
        "/micropub",
        json={
            "type": ["h-entry"],
            "properties": {
                "content": [{"html": "<p>Rich <b>text</b><script>x()</script></p>"}],
                "mp-slug": ["rich"],
            },
        },
        headers=bearer(token),
    )

    note = notes.get_published_note(db, "rich")
    assert note.content_type == "html"
    assert note.content_html == "<p>Rich <b>text</b></p>"
    assert "<script" not in client.get("/notes/rich").get_data(as_text=True)


def test_colliding_slugs_get_distinct_locations(
    client: FlaskClient, token: str
) -> None:
    locations = [
        client.post(
            "/micropub",
            data={"h": "entry", "content": "Same", "mp-slug": "same"},
            headers=bearer(token),
        ).headers["Location"]
        for _ in range(2)
    ]

    assert locations[0].endswith("/notes/same")
    assert locations[1].endswith("/notes/same-2")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}],
)
def test_create_without_valid_token_is_401(
    client: FlaskClient, db: sqlite3.Connection, headers: dict[str, str]
) -> None:
    response = client.post(
        "/micropub", data={"h": "entry", "content": "No"}, headers=headers
    )

    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert notes.list_all(db) == []


def test_wrong_body_token_is_401(client: FlaskClient) -> None:
    response = client.post(
        "/micropub", data={"h": "entry", "content": "No", "access_token": "bad"}
    )

    assert response.status_code == 401


def test_token_without_create_scope_is_403(
    client: FlaskClient, make_token: Callable[..., str]
) -> None:
    token = make_token(scope="admin")

    response = client.post(
        "/micropub", data={"h": "entry", "content": "No"}, headers=bearer(token)
    )

    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


def test_token_in_header_and_body_is_rejected(client: FlaskClient, token: str) -> None:
    response = client.post(
        "/micropub",
        data={"h": "entry", "content": "Twice", "access_token": token},
        headers=bearer(token),
    )

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "data",
    [
        {"h": "entry"},
        {"h": "entry", "content": "   "},
        {"h": "card", "content": "Not an entry"},
        {"h": "entry", "content": "x", "post-status": "secret"},
        {"h": "entry", "content": "x", "mp-slug": "!!!"},
        {"action": "delete", "url": "http://127.0.0.1:8000/notes/x"},
    ],
)
def test_bad_form_requests_are_invalid(
    client: FlaskClient, db: sqlite3.Connection, token: str, data: dict[str, str]
) -> None:
    response = client.post("/micropub", data=data, headers=bearer(token))

    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert body["error_description"]
    assert notes.list_all(db) == []


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"type": ["h-card"], "properties": {"content": ["x"]}},
        {"type": ["h-entry"]},
        {"type": ["h-entry"], "properties": {"content": "not a list"}},
        {"type": ["h-entry"], "properties": {"content": [{"img": "x"}]}},
        {"type": ["h-entry"], "properties": {"content": [42]}},
        {"type": ["h-entry"], "properties": {"content": ["x"], "name": [{"a": 1}]}},
        {"type": ["h-entry"], "properties": {}},
    ],
)
def test_bad_json_requests_are_invalid(
    client: FlaskClient, token: str, body: object
) -> None:
    response = client.post("/micropub", json=body, headers=bearer(token))

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe{}", b""])
def test_malformed_json_is_invalid(client: FlaskClient, token: str, raw: bytes) -> None:
    response = client.post(
        "/micropub",
        data=raw,
        headers={**bearer(token), "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("as_json", [True, False])
def test_oversized_body_is_413(client: FlaskClient, token: str, as_json: bool) -> None:
    content = "x" * (2 * 1024 * 1024)
    if as_json:
        body = {"type": ["h-entry"], "properties": {"content": [content]}}
        response = client.post("/micropub", json=body, headers=bearer(token))
    else:
        response = client.post(
            "/micropub", data={"h": "entry", "content": content}, headers=bearer(token)
        )

    assert response.status_code == 413
    assert response.get_json()["error"] == "request_too_large"


def test_query_config(client: FlaskClient, token: str) -> None:
    response = client.get("/micropub?q=config", headers=bearer(token))

    assert response.status_code == 200
    assert response.get_json()["syndicate-to"] == []


def test_query_syndicate_to(client: FlaskClient, token: str) -> None:
    response = client.get("/micropub?q=syndicate-to", headers=bearer(token))

    assert response.get_json() == {"syndicate-to": []}


def test_unknown_query_is_invalid(client: FlaskClient, token: str) -> None:
    response = client.get("/micropub?q=source", headers=bearer(token))

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_query_requires_token(client: FlaskClient) -> None:
    response = client.get("/micropub?q=config")

    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_micropub_ignores_admin_session(
    client: FlaskClient, login: Callable[..., str]
) -> None:
    login()

    response = client.post("/micropub", data={"h": "entry", "content": "Hi"})

    assert response.status_code == 401


def test_an_unsupported_body_type_is_named_in_the_error(
    client: FlaskClient, db: sqlite3.Connection, token: str
) -> None:
    response = client.post(
        "/micropub",
        data="<entry><content>Hello</content></entry>",
        content_type="text/xml",
        headers=bearer(token),
    )

    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert "text/xml" in body["error_description"]
    assert db.execute("SELECT count(*) FROM notes").fetchone()[0] == 0
