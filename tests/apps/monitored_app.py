"""A small non-StarPunk Flask app instrumented with ``Monitoring``.

It proves the monitoring is reusable by any Flask app and gives the
multi-process tests endpoints of every shape: a query, a template, a stream,
a file, an error and a slow page.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, jsonify, render_template_string, send_file

from starpunk.monitoring import Monitoring, connect

STREAM_CHUNKS = [f"chunk {i} ".encode() * 100 for i in range(50)]


def create_app() -> Flask:
    """Build the app from ``APP_DATA`` and ``METRICS_*`` environment variables."""
    data = os.environ["APP_DATA"]
    metrics_db = os.environ.get("APP_METRICS_DB", os.path.join(data, "metrics.db"))
    app = Flask(__name__, static_folder=os.path.join(data, "static"))
    app.config["METRICS_DB"] = metrics_db
    for key, value in os.environ.items():
        if key.startswith("METRICS_"):
            app.config[key] = value
    Monitoring(app)
    database = os.path.join(data, "app.db")

    @app.route("/")
    def index():
        conn = connect(database)
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS hits (n INTEGER)")
            rows = conn.execute("SELECT count(*) FROM hits WHERE n > 5").fetchall()
        finally:
            conn.close()
        return render_template_string("<p>{{ rows }}</p>", rows=rows)

    @app.route("/query")
    def query():
        conn = connect(database)
        try:
            total = 0
            for i in range(int(os.environ.get("APP_QUERIES", "10"))):
                total += conn.execute("SELECT ? + 1", (i,)).fetchone()[0]
        finally:
            conn.close()
        return str(total)

    @app.route("/stream")
    def stream():
        def generate():
            yield from STREAM_CHUNKS

        return Response(generate(), mimetype="text/plain")

    @app.route("/file")
    def file():
        return send_file(os.path.join(data, "static", "blob.bin"))

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    @app.route("/monitoring")
    def monitoring_status():
        return jsonify(app.extensions["starpunk.monitoring"].health())

    @app.route("/ping")
    def ping():
        return "pong"

    @app.route("/slowquery")
    def slowquery():
        conn = connect(database)
        conn.create_function("pause", 1, lambda ms: time.sleep(ms / 1000) or ms)
        try:
            for _ in range(int(os.environ.get("APP_SLOW_QUERIES", "3"))):
                conn.execute("SELECT pause(30)").fetchone()
        finally:
            conn.close()
        return "done"

    @app.route("/slow")
    def slow():
        time.sleep(float(os.environ.get("APP_SLOW_SECONDS", "0.2")))
        return "slow"

    return app
