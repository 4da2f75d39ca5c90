"""Access control, login throttling, cookies, CSRF, hashed secrets, and no leaks.

Routes are enumerated from the app's URL map, so a new admin route or form
is covered without editing this file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from werkzeug.routing import Rule

from starpunk.credentials import PASSWORD_SETTING
from starpunk.notes import create_note
from tests.conftest import ADMIN_PASSWORD, ADMIN_PASSWORD_HASH, csrf_from
from tests.gunicorn_harness import wait_for
from tests.monitoring_helpers import count_or_zero, query
from tests.site_server import Browser, Site, request

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
API_ENDPOINTS = {"metrics_dashboard.data", "metrics_dashboard.export_csv"}
PUBLIC_ADMIN_ENDPOINTS = {"admin.login", "admin.logout", "metrics_dashboard.static"}


def protected_rules(app: Flask) -> list[Rule]:
    """Every admin and dashboard route that only the admin may use."""
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("admin.", "metrics_dashboard."))
        and rule.endpoint not in PUBLIC_ADMIN_ENDPOINTS
    ]


def unsafe_rules(app: Flask) -> list[Rule]:
    """Every route accepting a state-changing method."""
    return [rule for rule in app.url_map.iter_rules() if rule.methods & UNSAFE]


def url_of(rule: Rule, note_id: int) -> str:
    return rule.build({"note_id": note_id}, append_unknown=False)[1]


@pytest.fixture
def note_id(db: sqlite3.Connection) -> int:
    return create_note(db, "A published note", published=True).id


def note_state(db: sqlite3.Connection) -> list[tuple]:
    return [
        tuple(row)
        for row in db.execute(
            "SELECT id, slug, title, content, published, deleted_at FROM notes"
        )
    ]


def test_route_enumeration_finds_every_guarded_route(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in protected_rules(app)}
    assert {
        "admin.notes_list",
        "admin.new_note",
        "admin.edit_note",
        "admin.publish_note",
        "admin.unpublish_note",
        "admin.delete_note",
        "metrics_dashboard.page",
        "metrics_dashboard.data",
        "metrics_dashboard.export_csv",
    } <= endpoints
    posts = {rule.endpoint for rule in unsafe_rules(app)}
    assert {"admin.login", "admin.logout", "micropub.create"} <= posts


# -- anonymous and wrong credentials --------------------------------------------


def test_anonymous_get_is_refused_everywhere(app, client, note_id) -> None:
    for rule in protected_rules(app):
        if "GET" not in rule.methods:
            continue
        url = url_of(rule, note_id)
        response = client.get(url)
        if rule.endpoint in API_ENDPOINTS:
            assert response.status_code == 401, url
            assert response.is_json and response.json["error"] == "unauthorized"
        else:
            assert response.status_code == 302, url
            assert response.location.startswith("/admin/login?next="), url
    response = client.get("/health?detailed=1")
    assert response.status_code == 401 and "monitoring" not in response.json
    assert "monitoring" not in client.get("/health").json


BAD_AUTHORIZATION = [
    "Bearer wrong-token",
    "Bearer ",
    "Basic YWRtaW46YWRtaW4=",
    "bearer",
    "Token abc",
]


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION)
def test_wrong_credentials_get_401_everywhere(
    app, client, note_id, authorization
) -> None:
    headers = {"Authorization": authorization}
    urls = [
        url_of(rule, note_id) for rule in protected_rules(app) if "GET" in rule.methods
    ]
    for url in [*urls, "/health?detailed=1"]:
        response = client.get(url, headers=headers)
        assert response.status_code == 401, (url, response.status_code)
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_wrong_credentials_change_nothing(app, client, db, note_id, login) -> None:
    before = note_state(db)
    for authorization in (None, *BAD_AUTHORIZATION):
        anonymous = app.test_client()
        headers = {"Authorization": authorization} if authorization else {}
        for rule in protected_rules(app):
            if "POST" not in rule.methods:
                continue
            form = {"content": "changed", "title": "changed", "action": "publish"}
            response = anonymous.post(url_of(rule, note_id), data=form, headers=headers)
            assert response.status_code in (302, 400, 401), rule.endpoint
            if response.status_code == 302:
                assert response.location.startswith("/admin/login")
    assert note_state(db) == before


def test_token_without_admin_scope_is_forbidden(app, client, make_token, note_id):
    headers = {"Authorization": f"Bearer {make_token('poster', 'create')}"}
    for rule in protected_rules(app):
        if "GET" in rule.methods:
            response = client.get(url_of(rule, note_id), headers=headers)
            assert response.status_code == 403, rule.endpoint
    assert client.get("/health?detailed=1", headers=headers).status_code == 403


def test_revoked_token_is_refused(app, client, token, db, note_id) -> None:
    db.execute("UPDATE tokens SET revoked_at = '2024-01-01T00:00:00Z'")
    response = client.get(
        "/admin/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


# -- login throttling and cookies -------------------------------------------------


def post_login(client: FlaskClient, password: str):
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"password": password, "csrf_token": token})


def test_login_guessing_is_rate_limited(client: FlaskClient) -> None:
    with freeze_time("2024-05-01T12:00:00Z") as frozen:
        for attempt in range(5):
            assert post_login(client, f"guess-{attempt}").status_code == 401
            frozen.tick(10)
        refused = post_login(client, ADMIN_PASSWORD)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 300
        assert client.get("/admin/").status_code == 302

        # A fresh client (new session) from the same address is limited too.
        assert post_login(client.application.test_client(), "x").status_code == 429

        frozen.tick(300)
        assert post_login(client, ADMIN_PASSWORD).status_code == 302
        assert client.get("/admin/").status_code == 200


def set_cookie_after_login(app: Flask) -> str:
    client = app.test_client()
    response = post_login(client, ADMIN_PASSWORD)
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    session = [c for c in cookies if c.startswith("starpunk_session=")]
    assert len(session) == 1, cookies
    return session[0]


def with_password(app: Flask) -> Flask:
    connection = sqlite3.connect(app.config["DATABASE_PATH"])
    with connection:
        connection.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?)",
            (PASSWORD_SETTING, ADMIN_PASSWORD_HASH),
        )
    connection.close()
    return app


def test_session_cookie_is_httponly_and_samesite(app: Flask) -> None:
    cookie = set_cookie_after_login(app).lower()
    assert "; httponly" in cookie
    assert "; samesite=lax" in cookie or "; samesite=strict" in cookie
    assert "; secure" not in cookie  # plain http site: a Secure cookie would vanish


def test_session_cookie_is_secure_on_https_sites(
    make_app: Callable[..., Flask],
) -> None:
    app = with_password(make_app(SITE_URL="https://notes.example.org"))
    cookie = set_cookie_after_login(app).lower()
    assert "; secure" in cookie and "; httponly" in cookie


def test_login_renews_the_session(app: Flask) -> None:
    client = app.test_client()
    before = csrf_from(client.get("/admin/login").get_data(as_text=True))
    assert post_login(client, ADMIN_PASSWORD).status_code == 302
    after = csrf_from(client.get("/admin/").get_data(as_text=True))
    assert after != before


# -- CSRF ---------------------------------------------------------------------------


def csrf_cases(app: Flask) -> list[str]:
    return sorted({rule.endpoint for rule in unsafe_rules(app)})


@pytest.mark.parametrize("sent", [None, "", "wrong-token", "Bearer-lookalike"])
def test_every_form_rejects_a_missing_or_wrong_csrf_token(
    app, client, db, note_id, login, sent
) -> None:
    login()
    before = note_state(db)
    password_before = db.execute("SELECT value FROM settings").fetchall()
    for rule in unsafe_rules(app):
        form = {
            "content": "forged",
            "title": "forged",
            "action": "publish",
            "password": ADMIN_PASSWORD,
            "h": "entry",
        }
        if sent is not None:
            form["csrf_token"] = sent
        response = client.post(url_of(rule, note_id), data=form)
        if rule.endpoint.startswith("micropub."):
            # Micropub ignores cookies: only a bearer token counts there.
            assert response.status_code == 401, rule.endpoint
        else:
            assert response.status_code == 400, rule.endpoint
            assert b"CSRF" in response.data
    assert note_state(db) == before
    assert db.execute("SELECT value FROM settings").fetchall() == password_before
    # Logout was refused too: the session still works.
    assert client.get("/admin/").status_code == 200


def test_a_bogus_bearer_header_does_not_lift_csrf(app, client, db, login) -> None:
    login()
    headers = {"Authorization": "Bearer not-a-real-token"}
    response = client.post("/admin/logout", headers=headers)
    assert response.status_code in (400, 401)
    assert client.get("/admin/").status_code == 200

    anonymous = app.test_client()
    response = anonymous.post(
        "/admin/login", data={"password": ADMIN_PASSWORD}, headers=headers
    )
    assert response.status_code in (400, 401)
    assert anonymous.get("/admin/").status_code == 302


def test_csrf_token_from_another_session_is_refused(app, client, db, note_id, login):
    other = app.test_client()
    other_token = csrf_from(other.get("/admin/login").get_data(as_text=True))
    login()
    before = note_state(db)
    response = client.post(
        f"/admin/notes/{note_id}/delete", data={"csrf_token": other_token}
    )
    assert response.status_code == 400
    assert note_state(db) == before


def test_the_right_csrf_token_is_accepted(client, db, note_id, login) -> None:
    token = login()
    response = client.post(
        f"/admin/notes/{note_id}/unpublish", data={"csrf_token": token}
    )
    assert response.status_code == 302
    assert db.execute("SELECT published FROM notes").fetchone()[0] == 0


# -- secrets at rest ------------------------------------------------------------------


def database_bytes(path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = type(path)(str(path) + suffix)
        if candidate.exists():
            data += candidate.read_bytes()
    return data


# -- no secret in metrics, events, logs or exports (real gunicorn) ----------------

MARKER = "zq-marker-7f3a91"
PASSWORD = f"pw-{MARKER}-secret"
WRONG_PASSWORD = f"wrong-{MARKER}-guess"


@pytest.mark.slow
def test_no_secret_reaches_metrics_events_logs_or_exports(tmp_path) -> None:
    # Every operation is "slow", so every one is also kept as an event with
    # its detail: the widest path a secret could take into the metrics.
    site = Site(tmp_path, METRICS_SLOW_MS=0, METRICS_FLUSH_SECONDS=0.5)
    token = site.init(PASSWORD)

    stored = sqlite3.connect(site.app_db)
    try:
        password_hash = stored.execute(
            "SELECT value FROM settings WHERE key = ?", (PASSWORD_SETTING,)
        ).fetchone()[0]
        token_hash = stored.execute("SELECT token_hash FROM tokens").fetchone()[0]
    finally:
        stored.close()
    assert password_hash.startswith(("scrypt:", "pbkdf2:")) and MARKER not in (
        password_hash
    )
    assert token_hash == hashlib.sha256(token.encode()).hexdigest()
    app_db_bytes = database_bytes(site.app_db)
    assert PASSWORD.encode() not in app_db_bytes
    assert token.encode() not in app_db_bytes

    bearer = {"Authorization": f"Bearer {token}"}
    server = site.server(workers=2).start(ready_path="/health")
    try:
        browser = Browser(server.port)
        assert browser.log_in(WRONG_PASSWORD) == 401
        assert browser.log_in(PASSWORD) == 302
        csrf = browser.csrf("/admin/notes/new")
        status, _, _ = browser.send(
            "POST",
            "/admin/notes/new",
            {"content": f"admin {MARKER}", "title": MARKER, "csrf_token": csrf},
        )
        assert status == 302
        form = {"h": "entry", "content": f"form {MARKER}", "access_token": token}
        assert request(server.port, "POST", "/micropub", form)[0] == 201
        entry = {"type": ["h-entry"], "properties": {"content": [f"json {MARKER}"]}}
        headers = {**bearer, "Content-Type": "application/json"}
        body = json.dumps(entry)
        assert request(server.port, "POST", "/micropub", body, headers)[0] == 201
        bad = {"Authorization": f"Bearer {MARKER}"}
        assert request(server.port, "GET", "/micropub?q=config", None, bad)[0] == 401
        leaky = f"/?access_token={token}&password={PASSWORD}&q={MARKER}"
        assert server.get(leaky)[0] == 200
        assert server.get(f"/notes/nothing-here?token={token}")[0] == 404
        assert server.get("/admin/metrics?range=1h", bearer)[0] == 200

        def exported() -> bytes:
            status, body = server.get("/admin/metrics/export.csv?range=1h", bearer)
            assert status == 200
            return body

        # Wait until the micropub requests are in the export.
        assert wait_for(lambda: b"micropub.create" in exported(), 15)
        http_csv = exported()
        dashboard = server.get("/admin/metrics-dashboard?range=1h", bearer)[1]
        metrics_json = server.get("/admin/metrics?range=1h", bearer)[1]
    finally:
        assert server.stop() == 0

    cli_csv = site.cli_ok("metrics", "export", "--range", "1h").encode()
    rows = list(csv.DictReader(io.StringIO(cli_csv.decode())))
    assert {row["kind"] for row in rows} >= {"http", "db", "render"}
    # Positive controls: the notes were stored, and events kept their details.
    assert MARKER.encode() in database_bytes(site.app_db)
    assert count_or_zero(site.metrics_db, "SELECT count(*) FROM events") > 50
    details = " ".join(
        row[0]
        for row in query(
            site.metrics_db, "SELECT detail FROM events WHERE detail IS NOT NULL"
        )
    )
    assert "POST /micropub" in details and "POST /admin/login" in details
    inserts = "SELECT count(*) FROM events WHERE name LIKE 'INSERT INTO notes%'"
    assert count_or_zero(site.metrics_db, inserts) == 3

    places = {
        "metrics database": database_bytes(site.metrics_db),
        "gunicorn log": site.log_path.read_bytes(),
        "http csv export": http_csv,
        "cli csv export": cli_csv,
        "dashboard page": dashboard,
        "metrics json": metrics_json,
    }
    for secret in (MARKER, PASSWORD, WRONG_PASSWORD, token):
        for place, data in places.items():
            assert secret.encode() not in data, (secret, place)
