-- Metrics database: one row per series and time bucket, never per request.

CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '',
    unit TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (kind, name, labels)
);

-- bucket is UTC epoch seconds aligned to the tier; count is a weighted total
-- (exact integers at a sample rate of 1.0); sketch is a serialized
-- metrics_store.sketch.QuantileSketch.
CREATE TABLE rollup_minute (
    bucket INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    count REAL NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    sketch BLOB NOT NULL,
    PRIMARY KEY (bucket, series_id)
) WITHOUT ROWID;

CREATE TABLE rollup_hour (
    bucket INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    count REAL NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    sketch BLOB NOT NULL,
    PRIMARY KEY (bucket, series_id)
) WITHOUT ROWID;

-- Hours whose minutes changed since the hour rollup last ran.
CREATE TABLE dirty_hours (
    bucket INTEGER PRIMARY KEY
) WITHOUT ROWID;

-- Slow operations and errors, kept one by one for the slow log.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    pid INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '',
    duration_ms REAL NOT NULL,
    error INTEGER NOT NULL DEFAULT 0,
    detail TEXT
);
CREATE INDEX events_ts ON events (ts);

-- One row per worker process: liveness and the monitoring's own status.
CREATE TABLE processes (
    pid INTEGER NOT NULL,
    started REAL NOT NULL,
    host TEXT NOT NULL DEFAULT '',
    last_seen REAL NOT NULL,
    last_flush REAL,
    flush_ms REAL,
    buffered INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    flush_failures INTEGER NOT NULL DEFAULT 0,
    rss_bytes REAL,
    cpu_percent REAL,
    threads REAL,
    open_fds REAL,
    PRIMARY KEY (pid, started)
) WITHOUT ROWID;

-- Site-wide jobs: the worker that inserts (job, period) first does the work.
CREATE TABLE job_runs (
    job TEXT NOT NULL,
    period INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    detail TEXT,
    PRIMARY KEY (job, period)
) WITHOUT ROWID;

-- Site-wide counters such as samples sent to the overflow series.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value REAL NOT NULL
) WITHOUT ROWID;
