"""RSS and Atom feeds of the latest published notes."""

from __future__ import annotations

from collections.abc import Sequence

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response, current_app, url_for

from starpunk.db import get_db
from starpunk.notes import Note, list_published

bp = Blueprint("feeds", __name__)


def absolute_url(path: str) -> str:
    """Join a site-relative path onto SITE_URL."""
    return current_app.config["SITE_URL"] + path


def build_feed(notes: Sequence[Note], self_url: str) -> FeedGenerator:
    """Return a feed of ``notes`` (newest first) served at ``self_url``."""
    config = current_app.config
    site_url = config["SITE_URL"] + "/"
    feed = FeedGenerator()
    feed.id(site_url)
    feed.title(config["SITE_NAME"])
    feed.description(f"Notes from {config['SITE_NAME']}")
    feed.author({"name": config["SITE_NAME"], "uri": site_url})
    feed.link(href=site_url, rel="alternate")
    feed.link(href=self_url, rel="self")
    feed.language("en")
    if notes:
        feed.updated(max(note.updated_at for note in notes))

    for note in notes:
        permalink = absolute_url(url_for("public.note", slug=note.slug))
        entry = feed.add_entry(order="append")
        entry.id(permalink)
        entry.guid(permalink, permalink=True)
        entry.title(note.display_title)
        entry.link(href=permalink)
        entry.published(note.published_at or note.created_at)
        entry.updated(note.updated_at)
        entry.content(note.content_html, type="html")
    return feed


def latest_notes() -> list[Note]:
    """Return the notes a feed shows: published, undeleted, newest first."""
    return list_published(get_db(), limit=current_app.config["FEED_SIZE"])


@bp.get("/feed.rss")
def rss() -> Response:
    """Serve the RSS 2.0 feed."""
    feed = build_feed(latest_notes(), absolute_url(url_for("feeds.rss")))
    return Response(feed.rss_str(pretty=True), mimetype="application/rss+xml")


@bp.get("/feed.atom")
def atom() -> Response:
    """Serve the Atom 1.0 feed."""
    feed = build_feed(latest_notes(), absolute_url(url_for("feeds.atom")))
    return Response(feed.atom_str(pretty=True), mimetype="application/atom+xml")
