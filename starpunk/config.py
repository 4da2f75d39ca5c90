"""Configuration: one defaults mapping, read from STARPUNK_ environment variables."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starpunk.errors import ConfigError
from starpunk.monitoring.settings import METRICS_DEFAULTS, parse_metrics_settings

logger = logging.getLogger(__name__)

ENV_PREFIX = "STARPUNK_"
SECRET_KEY_FILE = "secret_key"
APP_DB_FILE = "starpunk.db"
METRICS_DB_FILE = "metrics.db"

DEFAULTS: dict[str, Any] = {
    "DATA_PATH": "./data",
    "SECRET_KEY": None,
    "SITE_NAME": "StarPunk",
    "SITE_URL": "http://127.0.0.1:8000",
    "ADMIN_PASSWORD_HASH": None,
    "NOTES_PER_PAGE": 10,
    "FEED_SIZE": 20,
    **METRICS_DEFAULTS,
}

# Bodies larger than this answer 413; a note is text, a megabyte is plenty.
MAX_BODY_BYTES = 1024 * 1024


def load_config(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge defaults, ``STARPUNK_*`` variables and ``overrides``; validate.

    Raises ConfigError naming the environment variable (or config key) at fault.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    config = dict(DEFAULTS)
    sources: dict[str, str] = {}
    for key in DEFAULTS:
        if ENV_PREFIX + key in environ:
            config[key] = environ[ENV_PREFIX + key]
            sources[key] = ENV_PREFIX + key
    _warn_unknown_variables(environ)
    for key, value in overrides.items():
        config[key] = value
        sources[key] = f"config key {key}"

    _validate_site(config, sources)
    _validate_metrics(config, sources)
    return config


def _source(key: str, sources: Mapping[str, str]) -> str:
    return sources.get(key, ENV_PREFIX + key)


def _warn_unknown_variables(environ: Mapping[str, str]) -> None:
    known = {ENV_PREFIX + key for key in DEFAULTS}
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            logger.warning("Ignoring unknown setting %s; is it misspelled?", name)


def _validate_site(config: dict[str, Any], sources: Mapping[str, str]) -> None:
    data_path = str(config["DATA_PATH"] or "").strip()
    if not data_path:
        raise ConfigError(f"{_source('DATA_PATH', sources)} must not be empty.")
    config["DATA_PATH"] = str(Path(data_path).expanduser().absolute())

    site_name = str(config["SITE_NAME"] or "").strip()
    if not site_name:
        raise ConfigError(f"{_source('SITE_NAME', sources)} must not be empty.")
    config["SITE_NAME"] = site_name

    site_url = str(config["SITE_URL"] or "").strip().rstrip("/")
    parts = urlsplit(site_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{_source('SITE_URL', sources)} must be an http:// or https:// URL "
            f"such as https://example.org, got {config['SITE_URL']!r}."
        )
    config["SITE_URL"] = site_url

    secret = config["SECRET_KEY"]
    if secret is not None and len(str(secret)) < 16:
        raise ConfigError(
            f"{_source('SECRET_KEY', sources)} must be at least 16 characters long."
        )

    password_hash = config["ADMIN_PASSWORD_HASH"]
    if password_hash is not None and password_hash != "":
        if "$" not in str(password_hash):
            raise ConfigError(
                f"{_source('ADMIN_PASSWORD_HASH', sources)} must be a password hash "
                "made by werkzeug.security.generate_password_hash, not a password."
            )
    else:
        config["ADMIN_PASSWORD_HASH"] = None

    for key, maximum in (("NOTES_PER_PAGE", 100), ("FEED_SIZE", 200)):
        config[key] = _parse_count(_source(key, sources), config[key], maximum)


def _parse_count(name: str, value: Any, maximum: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}.") from None
    if not 1 <= number <= maximum:
        raise ConfigError(f"{name} must be between 1 and {maximum}, got {value!r}.")
    return number


def _validate_metrics(config: dict[str, Any], sources: Mapping[str, str]) -> None:
    if not config.get("METRICS_DB"):
        config["METRICS_DB"] = str(Path(config["DATA_PATH"]) / METRICS_DB_FILE)
    try:
        parse_metrics_settings(config)
    except ConfigError as exc:
        raise ConfigError(_name_metrics_source(str(exc), sources)) from None


def _name_metrics_source(message: str, sources: Mapping[str, str]) -> str:
    """Rewrite a message that starts with a METRICS_ key to name where it came from."""
    keys = sorted(METRICS_DEFAULTS, key=len, reverse=True)
    key = next((key for key in keys if message.startswith(key)), None)
    if key is None:
        return message
    source = _source(key, sources)
    if source.startswith(ENV_PREFIX):
        return ENV_PREFIX + message
    return f"{source}: {message}"


def app_db_path(config: Mapping[str, Any]) -> Path:
    """Return the path of the app database inside the data folder."""
    return Path(config["DATA_PATH"]) / APP_DB_FILE


def prepare_data_path(config: Mapping[str, Any]) -> Path:
    """Create the data folder if missing; raise ConfigError when it cannot be."""
    path = Path(config["DATA_PATH"])
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{ENV_PREFIX}DATA_PATH {str(path)!r} is a file, not a folder; "
            "point it at a folder (it is created if missing)."
        )
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o750)
    except OSError as exc:
        raise ConfigError(
            f"{ENV_PREFIX}DATA_PATH {str(path)!r} cannot be created: {exc.strerror}."
        ) from None
    return path


def load_or_create_secret_key(data_path: Path) -> str:
    """Return the site's secret key, creating it (mode 0600) on first use.

    Several workers may start together: the key is written to a private temp
    file and linked into place, so exactly one key wins and nobody reads a
    half-written file.
    """
    key_file = data_path / SECRET_KEY_FILE
    if not key_file.exists():
        temp = data_path / f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(temp, key_file)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    secret = key_file.read_text().strip()
    if len(secret) < 16:
        raise ConfigError(
            f"The secret key file {str(key_file)!r} is empty or too short; "
            "delete it to generate a new one."
        )
    return secret
