-- One row of metadata per API request: never its content.
CREATE TABLE usage (
    id                    INTEGER PRIMARY KEY,
    at                    INTEGER NOT NULL,
    user_id               TEXT REFERENCES users (id) ON DELETE CASCADE,
    key_id                TEXT REFERENCES api_keys (id) ON DELETE SET NULL,
    endpoint              TEXT NOT NULL,
    model                 TEXT,
    provider              TEXT,
    status                INTEGER NOT NULL,
    latency_ms            INTEGER NOT NULL,
    ttfb_ms               INTEGER,
    input_tokens          INTEGER NOT NULL DEFAULT 0,
    cached_input_tokens   INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens         INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens      INTEGER NOT NULL DEFAULT 0,
    estimated             INTEGER NOT NULL DEFAULT 0,
    streamed              INTEGER NOT NULL DEFAULT 0,
    outcome               TEXT NOT NULL,
    error_kind            TEXT,
    cost                  INTEGER NOT NULL DEFAULT 0,
    ip                    TEXT
) STRICT;

CREATE INDEX usage_user_at ON usage (user_id, at);
CREATE INDEX usage_at ON usage (at);
