-- Notes keep their Markdown (or HTML) source and the sanitized HTML made from it.
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    title TEXT,
    content TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT 'markdown'
        CHECK (content_type IN ('markdown', 'html')),
    content_html TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    published_at TEXT,
    deleted_at TEXT
);

CREATE INDEX notes_public ON notes (published, deleted_at, published_at DESC, id DESC);

-- Site-wide key/value settings such as the admin password hash.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Bearer tokens are stored as SHA-256 digests; the token itself is shown once.
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL DEFAULT 'create admin',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Failed logins per client address, for rate limiting across worker processes.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY,
    client TEXT NOT NULL,
    failed_at REAL NOT NULL
);

CREATE INDEX login_failures_client ON login_failures (client, failed_at);
