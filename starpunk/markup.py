"""Note bodies: Markdown to HTML, and every HTML sanitized before it is stored."""

from __future__ import annotations

import html
import re

import markdown
import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "mark",
    "ol", "p", "pre", "q", "s", "small", "strong", "sub", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "code": {"class"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
MARKDOWN_EXTENSIONS = ["fenced_code", "tables", "sane_lists"]

# Characters XML 1.0 forbids (feeds would fail to build) and lone surrogates
# (SQLite cannot encode them); they carry no meaning in a note.
_UNSAFE_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str) -> str:
    """Drop control characters and lone surrogates; normalize line endings."""
    return _UNSAFE_CHARACTERS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def sanitize_html(source: str) -> str:
    """Keep only harmless tags and attributes; scripts and handlers never survive."""
    return nh3.clean(
        source,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def render_markdown(source: str) -> str:
    """Render Markdown to sanitized HTML."""
    return sanitize_html(markdown.markdown(source, extensions=MARKDOWN_EXTENSIONS))


def render_note(source: str, content_type: str) -> str:
    """Render a note body given as ``markdown`` or ``html`` to sanitized HTML."""
    if content_type == "html":
        return sanitize_html(source)
    return render_markdown(source)


def plain_text(rendered_html: str) -> str:
    """Return the text of sanitized HTML, whitespace collapsed."""
    text = html.unescape(nh3.clean(rendered_html, tags=set()))
    return " ".join(text.split())


def summarize(rendered_html: str, length: int = 60) -> str:
    """Return a short one-line summary of a note, cut at a word boundary."""
    text = plain_text(rendered_html)
    if len(text) <= length:
        return text
    cut = text[:length].rsplit(" ", 1)[0] or text[:length]
    return cut + "…"
