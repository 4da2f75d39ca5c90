"""Admin pages: log in and out, list, write, edit, publish and delete notes."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from starpunk import notes, ratelimit
from starpunk.auth import admin_required, has_admin_session, log_in, log_out
from starpunk.credentials import check_password, password_hash
from starpunk.csrf import check_csrf
from starpunk.db import get_db
from starpunk.errors import InvalidInput

logger = logging.getLogger(__name__)

# Note ids are SQLite integers; a larger number in a URL is simply not found.
NOTE_ID = f"int(max={2**63 - 1})"

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(check_csrf)


def safe_next(target: str | None) -> str:
    """Return ``target`` if it is a path on this site, else the notes list."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("admin.notes_list")


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int] | str:
    """Show the login form; check the password, at most 5 failures in 5 minutes."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if has_admin_session():
            return redirect(next_url)
        return render_template("admin/login.html", next_url=next_url)

    db = get_db()
    client = request.remote_addr or "unknown"
    wait = ratelimit.retry_after(db, client)
    if wait:
        logger.warning("Login attempts from %s are being rate limited", client)
        page = render_template(
            "admin/login.html",
            next_url=next_url,
            error=f"Too many failed attempts. Try again in {wait} seconds.",
        )
        return Response(page, status=429, headers={"Retry-After": str(wait)})

    if check_password(db, current_app.config, request.form.get("password", "")):
        ratelimit.clear_failures(db, client)
        log_in()
        return redirect(next_url)

    ratelimit.record_failure(db, client)
    if password_hash(db, current_app.config) is None:
        error = "No admin password is set yet; run 'starpunk set-password'."
    else:
        error = "That password is not correct."
    return render_template("admin/login.html", next_url=next_url, error=error), 401


@bp.post("/logout")
def logout() -> BaseResponse:
    """End the admin session and go back to the home page."""
    log_out()
    return redirect(url_for("public.index"))


@bp.get("/")
@admin_required()
def notes_list() -> str:
    """List all notes, drafts included."""
    return render_template("admin/notes.html", notes=notes.list_all(get_db()))


def _form_note_fields() -> dict[str, str]:
    return {
        "title": request.form.get("title", ""),
        "content": request.form.get("content", ""),
        "slug": request.form.get("slug", ""),
    }


@bp.route("/notes/new", methods=["GET", "POST"])
@admin_required()
def new_note() -> BaseResponse | tuple[str, int] | str:
    """Show the editor for a new note, or create it."""
    if request.method == "GET":
        return render_template("admin/edit.html", note=None, form={})

    form = _form_note_fields()
    try:
        note = notes.create_note(
            get_db(),
            form["content"],
            title=form["title"],
            slug=form["slug"],
            published=request.form.get("action") == "publish",
        )
    except InvalidInput as exc:
        page = render_template("admin/edit.html", note=None, form=form, error=exc)
        return page, 400
    flash(f"Saved “{note.display_title}”.")
    return redirect(url_for("admin.notes_list"))


@bp.route(f"/notes/<{NOTE_ID}:note_id>/edit", methods=["GET", "POST"])
@admin_required()
def edit_note(note_id: int) -> BaseResponse | tuple[str, int] | str:
    """Show the editor for an existing note, or save it."""
    db = get_db()
    note = notes.get_note(db, note_id)
    if request.method == "GET":
        form = {"title": note.title or "", "content": note.content}
        return render_template("admin/edit.html", note=note, form=form)

    form = _form_note_fields()
    try:
        note = notes.update_note(db, note_id, form["content"], title=form["title"])
    except InvalidInput as exc:
        page = render_template("admin/edit.html", note=note, form=form, error=exc)
        return page, 400
    flash(f"Saved “{note.display_title}”.")
    return redirect(url_for("admin.notes_list"))


@bp.post(f"/notes/<{NOTE_ID}:note_id>/publish")
@admin_required()
def publish_note(note_id: int) -> BaseResponse:
    """Make a note public."""
    note = notes.set_published(get_db(), note_id, True)
    flash(f"Published “{note.display_title}”.")
    return redirect(url_for("admin.notes_list"))


@bp.post(f"/notes/<{NOTE_ID}:note_id>/unpublish")
@admin_required()
def unpublish_note(note_id: int) -> BaseResponse:
    """Turn a note back into a draft."""
    note = notes.set_published(get_db(), note_id, False)
    flash(f"“{note.display_title}” is a draft again.")
    return redirect(url_for("admin.notes_list"))


@bp.post(f"/notes/<{NOTE_ID}:note_id>/delete")
@admin_required()
def delete_note(note_id: int) -> BaseResponse:
    """Delete a note; its permalink answers 410 from now on."""
    note = notes.get_note(get_db(), note_id)
    notes.delete_note(get_db(), note_id)
    flash(f"Deleted “{note.display_title}”.")
    return redirect(url_for("admin.notes_list"))
