"""The sites under test and the monitoring variants applied to them.

A *site* is a Flask app with a realistic page, a second page and a trivial
endpoint; a *variant* is how it is monitored: not at all (StarPunk's
monitoring switched off), by StarPunk's monitoring, by
prometheus_flask_exporter, or by Flask-MonitoringDashboard at monitor level
1. Each variant runs in its own process: the peers keep global state.
``off_again`` is ``off`` once more, measured as if it were a variant: its
ratio to ``off`` shows how fine a difference the run can resolve.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

VARIANTS = ("off", "off_again", "starpunk", "prometheus", "fmd")
VARIANT_LABELS = {
    "off": "monitoring off",
    "off_again": "monitoring off, A/A control",
    "starpunk": "StarPunk monitoring",
    "prometheus": "prometheus_flask_exporter",
    "fmd": "Flask-MonitoringDashboard (level 1)",
}
SITE_ENV = "BENCH_SITE"
VARIANT_ENV = "BENCH_VARIANT"
FOLDER_ENV = "BENCH_FOLDER"


@dataclass
class Site:
    """A site's name and the paths of its realistic page, note page and trivial."""

    name: str
    paths: dict[str, str]


def available_sites() -> list[str]:
    """The demo site always; StarPunk's own site once its app factory exists."""
    sites = ["demo"]
    try:
        from starpunk import create_app  # noqa: F401
    except ImportError:
        pass
    else:
        sites.append("starpunk")
    return sites


def site_paths(site: str) -> dict[str, str]:
    """Paths to request: ``page`` (the index), ``note`` and ``trivial``."""
    if site == "demo":
        from bench.demo_app import note_slug

        return {"page": "/", "note": f"/notes/{note_slug(7)}", "trivial": "/health"}
    from bench.starpunk_site import note_path

    return {"page": "/", "note": note_path(7), "trivial": "/health"}


def prepare_data(site: str, folder: Path) -> None:
    """Create the site's own data (notes) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if site == "demo":
        from bench.demo_app import seed_app_db

        seed_app_db(folder / "app.db")
    else:
        from bench.starpunk_site import seed_site

        seed_site(folder)


def prepare(site: str, variant: str, folder: Path) -> None:
    """Create data and databases in ``folder``, in a process of its own.

    Run before gunicorn starts: building the app once creates the metrics or
    dashboard database, so several workers never race to create it. The
    peers allow one app per process, so this process builds nothing else.
    """
    prepare_data(site, folder)
    build_app(site, variant, folder, scheduler=False)


def build_app(site: str, variant: str, folder: Path, *, scheduler: bool) -> Flask:
    """Return ``site`` over ``folder`` monitored by ``variant``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {VARIANTS}")
    metrics = {
        "METRICS_ENABLED": variant == "starpunk",
        "METRICS_SCHEDULER": scheduler,
        "METRICS_DB": str(folder / "metrics.db"),
    }
    if site == "demo":
        from bench.demo_app import create_app

        app = create_app(folder, metrics)
    else:
        from bench.starpunk_site import create_site_app

        app = create_site_app(folder, metrics)
    if variant == "prometheus":
        from prometheus_flask_exporter import PrometheusMetrics

        PrometheusMetrics(app)
    elif variant == "fmd":
        attach_dashboard(app, folder)
    return app


def attach_dashboard(app: Flask, folder: Path) -> None:
    """Bind Flask-MonitoringDashboard at monitor level 1 with its own SQLite file.

    Its configuration is read at import time of its database module, so it is
    set on the ``config`` object before ``bind`` imports that module; ``bind``
    must come after every route is defined, since it wraps the view functions
    it finds. Telemetry stays off (its default) and no dashboard page is
    requested, so it contacts no other host.
    """
    import flask_monitoringdashboard as dashboard

    dashboard.config.database_name = f"sqlite:///{folder / 'dashboard.db'}"
    dashboard.config.monitor_level = 1
    dashboard.config.enable_logging = False
    dashboard.bind(app)


def gunicorn_app() -> Flask:
    """App factory for gunicorn: site, variant and folder come from the environment."""
    return build_app(
        os.environ[SITE_ENV],
        os.environ[VARIANT_ENV],
        Path(os.environ[FOLDER_ENV]),
        scheduler=True,
    )


def prepare_worker(params: dict[str, Any]) -> dict[str, Any]:
    """Worker entry: prepare a folder in a process of its own."""
    prepare(params["site"], params["variant"], Path(params["folder"]))
    return {"ok": True}


if __name__ == "__main__":
    from bench.common import worker_main

    worker_main(prepare_worker)
