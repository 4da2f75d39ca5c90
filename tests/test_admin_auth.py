"""Admin login, sessions, CSRF, rate limiting and the auth decorators."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient
from freezegun import freeze_time

from starpunk.auth import admin_api_required, admin_required
from starpunk.credentials import set_password
from tests.conftest import ADMIN_PASSWORD, csrf_from


def login_form_token(client: FlaskClient) -> str:
    return csrf_from(client.get("/admin/login").get_data(as_text=True))


def admin_csrf(client: FlaskClient) -> str:
    return csrf_from(client.get("/admin/").get_data(as_text=True))


def post_login(client: FlaskClient, password: str, **extra: str):
    data = {"password": password, "csrf_token": login_form_token(client), **extra}
    return client.post("/admin/login", data=data)


def test_anonymous_admin_page_redirects_to_login(client: FlaskClient) -> None:
    response = client.get("/admin/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/"


def test_login_page_renders_form(client: FlaskClient) -> None:
    page = client.get("/admin/login").get_data(as_text=True)

    assert 'type="password"' in page
    assert 'name="csrf_token"' in page


def test_login_with_right_password(client: FlaskClient) -> None:
    response = post_login(client, ADMIN_PASSWORD)

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_login_with_wrong_password(client: FlaskClient) -> None:
    response = post_login(client, "guess")

    assert response.status_code == 401
    assert "not correct" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_without_any_password_configured(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app().test_client()

    response = post_login(client, "anything")

    assert response.status_code == 401
    assert "starpunk set-password" in response.get_data(as_text=True)


def test_login_follows_safe_next_only(client: FlaskClient) -> None:
    safe = post_login(client, ADMIN_PASSWORD, next="/admin/notes/new")
    client.post("/admin/logout", data={"csrf_token": admin_csrf(client)})
    unsafe = post_login(client, ADMIN_PASSWORD, next="//evil.example/")

    assert safe.headers["Location"] == "/admin/notes/new"
    assert unsafe.headers["Location"] == "/admin/"


def test_login_without_csrf_token_is_rejected(client: FlaskClient) -> None:
    client.get("/admin/login")

    response = client.post("/admin/login", data={"password": ADMIN_PASSWORD})

    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_session_cookie_flags(client: FlaskClient) -> None:
    response = post_login(client, ADMIN_PASSWORD)

    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_for_https_site(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(SITE_URL="https://notes.example").test_client()

    response = client.get("/admin/login")

    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_logout_ends_session(client: FlaskClient, login: Callable[..., str]) -> None:
    csrf = login()

    response = client.post("/admin/logout", data={"csrf_token": csrf})

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302


def test_changing_the_password_ends_earlier_sessions(
    app: Flask, client: FlaskClient, login: Callable[..., str], db_factory
) -> None:
    login()
    assert client.get("/admin/").status_code == 200

    set_password(db_factory(app), "a brand new password")

    assert client.get("/admin/").status_code == 302
    login("a brand new password")
    assert client.get("/admin/").status_code == 200


def test_a_session_without_the_password_fingerprint_is_refused(
    client: FlaskClient,
) -> None:
    with client.session_transaction() as session:
        session["admin"] = True
    assert client.get("/admin/").status_code == 302


def test_logout_requires_post_and_csrf(
    client: FlaskClient, login: Callable[..., str]
) -> None:
    login()

    assert client.get("/admin/logout").status_code == 405
    assert client.post("/admin/logout").status_code == 400
    assert client.get("/admin/").status_code == 200


def test_login_is_rate_limited(client: FlaskClient) -> None:
    with freeze_time("2024-05-01 12:00:00") as clock:
        for _ in range(5):
            assert post_login(client, "wrong").status_code == 401
            clock.tick(10)

        blocked = post_login(client, ADMIN_PASSWORD)
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["Retry-After"]) <= 300
        assert client.get("/admin/").status_code == 302

        clock.tick(int(blocked.headers["Retry-After"]))
        assert post_login(client, ADMIN_PASSWORD).status_code == 302


def test_successful_login_clears_failures(client: FlaskClient) -> None:
    for _ in range(4):
        post_login(client, "wrong")
    post_login(client, ADMIN_PASSWORD)
    client.post("/admin/logout", data={"csrf_token": admin_csrf(client)})

    for _ in range(4):
        assert post_login(client, "wrong").status_code == 401


def test_rate_limit_is_per_client(app: Flask) -> None:
    attacker = app.test_client()
    for _ in range(5):
        post_login(attacker, "wrong")
    owner = app.test_client()

    blocked = attacker.post(
        "/admin/login",
        data={"password": "x", "csrf_token": login_form_token(attacker)},
    )
    allowed = owner.post(
        "/admin/login",
        data={"password": ADMIN_PASSWORD, "csrf_token": login_form_token(owner)},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )

    assert blocked.status_code == 429
    assert allowed.status_code == 302


def test_bearer_token_opens_admin_pages(client: FlaskClient, token: str) -> None:
    response = client.get("/admin/", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "header", ["Bearer nope", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Token abc"]
)
def test_wrong_credentials_on_admin_pages_answer_401(
    client: FlaskClient, header: str
) -> None:
    response = client.get("/admin/", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_create_only_token_cannot_use_admin(
    client: FlaskClient, make_token: Callable[..., str]
) -> None:
    token = make_token(scope="create")

    response = client.get("/admin/", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


@pytest.fixture
def guarded_app(app: Flask) -> Flask:
    """The app with one HTML page and two JSON endpoints behind the decorators."""

    @app.get("/admin/example")
    @admin_required()
    def example_page() -> str:
        return "secret page"

    @app.get("/admin/example.json")
    @admin_required(api=True)
    def example_json():
        return jsonify({"ok": True})

    @app.get("/admin/example.csv")
    @admin_api_required
    def example_csv() -> str:
        return "a,b\r\n"

    return app


def test_decorator_redirects_anonymous_html(guarded_app: Flask) -> None:
    response = guarded_app.test_client().get("/admin/example?x=1")

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/example?x%3D1"


@pytest.mark.parametrize("path", ["/admin/example.json", "/admin/example.csv"])
def test_decorator_answers_401_json_for_api(guarded_app: Flask, path: str) -> None:
    response = guarded_app.test_client().get(path)

    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "path", ["/admin/example", "/admin/example.json", "/admin/example.csv"]
)
def test_decorator_accepts_session_and_token(
    guarded_app: Flask, token: str, path: str
) -> None:
    with_token = guarded_app.test_client().get(
        path, headers={"Authorization": f"Bearer {token}"}
    )
    client = guarded_app.test_client()
    post_login(client, ADMIN_PASSWORD)
    with_session = client.get(path)

    assert with_token.status_code == 200
    assert with_session.status_code == 200


def test_revoked_token_is_refused(guarded_app: Flask, token: str, db_factory) -> None:
    db = db_factory(guarded_app)
    db.execute("UPDATE tokens SET revoked_at = '2024-01-01T00:00:00Z'")

    response = guarded_app.test_client().get(
        "/admin/example.json", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401


def test_configured_password_hash_is_used(make_app: Callable[..., Flask]) -> None:
    from werkzeug.security import generate_password_hash

    digest = generate_password_hash("from-the-environment", "pbkdf2:sha256:1000")
    client = make_app(ADMIN_PASSWORD_HASH=digest).test_client()

    assert post_login(client, "from-the-environment").status_code == 302
