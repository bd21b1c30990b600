-- The whole current schema of a CodexAPI database (SQLite).
-- migrations/ moves older files here step by step; a test checks that both give the same tables.
-- Times are unix milliseconds (UTC); amounts are integer micro-units of the configured currency.
PRAGMA application_id = 1129857360;

-- Operator settings changed at run time (config file settings live in the TOML file).
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Who did what to whom, for operators.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT,
    action     TEXT NOT NULL,
    target     TEXT,
    detail     TEXT,
    ip         TEXT
) STRICT;

CREATE INDEX audit_log_at ON audit_log (at);
