"""StarPunk: a minimal single-user IndieWeb CMS with built-in monitoring."""

from __future__ import annotations

from typing import Any

from flask import Flask

__all__ = ["create_app"]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the StarPunk app from ``STARPUNK_*`` variables, overridden by ``config``.

    Creates the data folder, the secret key and the app database schema when
    missing. Raises ConfigError, naming the variable, for a bad setting.
    """
    # Imported here, not at the top: importing the package (for the gunicorn
    # config, or from monitoring code) then reads no configuration and cannot
    # form an import cycle with the modules the factory wires together.
    from starpunk.factory import build_app

    return build_app(config)
