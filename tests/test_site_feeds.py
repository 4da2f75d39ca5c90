"""RSS and Atom feeds."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time

from starpunk import notes

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def some_notes(db: sqlite3.Connection) -> None:
    """Three published notes on three days, a draft and a deleted note."""
    for day, title in ((1, "First"), (2, "Second"), (3, "Third")):
        with freeze_time(f"2024-02-0{day} 10:00:00"):
            notes.create_note(db, f"Body of {title}", title=title)
    notes.create_note(db, "Draft body", title="Draft", published=False)
    deleted = notes.create_note(db, "Deleted body", title="Deleted")
    notes.delete_note(db, deleted.id)


@pytest.mark.usefixtures("some_notes")
def test_rss_is_valid_newest_first_without_drafts(client: FlaskClient) -> None:
    response = client.get("/feed.rss")

    assert response.status_code == 200
    assert response.mimetype == "application/rss+xml"
    channel = ET.fromstring(response.data).find("channel")
    titles = [item.findtext("title") for item in channel.findall("item")]
    assert titles == ["Third", "Second", "First"]
    assert channel.findtext("title") == "StarPunk"
    first = channel.find("item")
    assert first.findtext("link") == "http://127.0.0.1:8000/notes/third"
    assert "<p>Body of Third</p>" in first.findtext("description")


@pytest.mark.usefixtures("some_notes")
def test_atom_is_valid_newest_first_without_drafts(client: FlaskClient) -> None:
    response = client.get("/feed.atom")

    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    entries = feed.findall(f"{ATOM}entry")
    assert [entry.findtext(f"{ATOM}title") for entry in entries] == [
        "Third",
        "Second",
        "First",
    ]
    assert entries[0].findtext(f"{ATOM}id") == "http://127.0.0.1:8000/notes/third"
    assert entries[0].find(f"{ATOM}content").get("type") == "html"
    assert feed.findtext(f"{ATOM}updated").startswith("2024-02-03T10:00:00")


def test_empty_feeds_are_valid(client: FlaskClient) -> None:
    for path in ("/feed.rss", "/feed.atom"):
        response = client.get(path)
        assert response.status_code == 200
        ET.fromstring(response.data)


def test_untitled_note_gets_a_summary_title(
    client: FlaskClient, db: sqlite3.Connection
) -> None:
    notes.create_note(db, "Just a *short* thought about feeds")

    feed = ET.fromstring(client.get("/feed.atom").data)

    title = feed.find(f"{ATOM}entry").findtext(f"{ATOM}title")
    assert title == "Just a short thought about feeds"


def test_script_never_reaches_feeds(
    client: FlaskClient, db: sqlite3.Connection
) -> None:
    notes.create_note(db, "Hello <script>alert(1)</script> <b>bold</b>")

    for path in ("/feed.rss", "/feed.atom"):
        root = ET.fromstring(client.get(path).data)
        texts = " ".join(element.text or "" for element in root.iter())
        assert "<script" not in texts
        assert "alert(1)" not in texts
        assert "<b>bold</b>" in texts


def test_site_settings_appear_in_feeds(make_app, db_factory) -> None:
    app = make_app(SITE_NAME="Field Notes", SITE_URL="https://notes.example")
    notes.create_note(db_factory(app), "Hi", title="Hi")

    feed = ET.fromstring(app.test_client().get("/feed.atom").data)

    assert feed.findtext(f"{ATOM}title") == "Field Notes"
    assert feed.find(f"{ATOM}entry").findtext(f"{ATOM}id") == (
        "https://notes.example/notes/hi"
    )
