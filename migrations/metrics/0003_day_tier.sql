-- Day rollups, rebuilt from hours as hours are from minutes. Internal to
-- summaries over long ranges; the API's resolutions stay minute and hour.
CREATE TABLE rollup_day (
    bucket INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    count REAL NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    sketch BLOB NOT NULL,
    PRIMARY KEY (bucket, series_id)
) WITHOUT ROWID;

-- Days whose hours changed since the day rollup last ran.
CREATE TABLE dirty_days (
    bucket INTEGER PRIMARY KEY
) WITHOUT ROWID;

-- Every day that already has hours is built by the next rollup.
INSERT OR IGNORE INTO dirty_days (bucket)
SELECT DISTINCT (bucket / 86400) * 86400 FROM rollup_hour;
