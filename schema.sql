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


-- People with an account. Passwords are Argon2id PHC strings; ids are random.
CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL COLLATE NOCASE UNIQUE,
    name              TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    role              TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'pending', 'suspended')),
    email_verified_at INTEGER,
    totp_secret       TEXT,
    totp_enabled_at   INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    totp_last_step    INTEGER,
    -- The wallet balance, always equal to the sum of the account's ledger rows.
    balance           INTEGER NOT NULL DEFAULT 0,
    -- The fair-use tier; NULL for the configured default.
    tier              TEXT,
    -- A monthly spend cap set by an admin; NULL for the tier's.
    monthly_cap       INTEGER,
    -- What the account spent in the month `spend_month` (YYYYMM, UTC).
    spend_month       INTEGER NOT NULL DEFAULT 0,
    month_spent       INTEGER NOT NULL DEFAULT 0,
    -- A low-balance email goes out when the balance falls below this; NULL for none.
    low_balance_alert INTEGER,
    low_balance_sent_at INTEGER,
    -- When the user restricted processing (no analytics, no non-essential mail); NULL when not.
    restricted_at     INTEGER,
    -- The policy version (its effective date) the user acknowledged, and the one mailed about.
    policy_seen       TEXT,
    policy_mailed     TEXT
) STRICT;

-- Signed-in browsers. Only a SHA-256 hash of the cookie token is kept.
CREATE TABLE sessions (
    token_hash   BLOB PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    mfa_pending  INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ip           TEXT,
    user_agent   TEXT
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id);

-- Single-use links sent by mail (verify, reset, email change), stored as hashes.
CREATE TABLE email_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify', 'reset', 'email_change')),
    new_email  TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE INDEX email_tokens_user ON email_tokens (user_id);

-- API keys: only a SHA-256 hash and a display prefix; models is a JSON list or NULL for all.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     BLOB NOT NULL UNIQUE,
    models       TEXT,
    spend_limit  INTEGER,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    -- What the key has spent over its life, for its spend limit.
    spent        INTEGER NOT NULL DEFAULT 0,
    -- Requests per minute allowed to the key, below its account's tier.
    requests_per_minute INTEGER
) STRICT;

CREATE INDEX api_keys_user ON api_keys (user_id);

-- Two-factor recovery codes, hashed, each usable once.
CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

-- What happened to an account (sign-ins, changes), shown to its owner.
CREATE TABLE security_events (
    id         INTEGER PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT
) STRICT;

CREATE INDEX security_events_user ON security_events (user_id, at);
CREATE INDEX security_events_at ON security_events (at);

-- Invite codes for signup mode "invite", hashed.
CREATE TABLE invites (
    code_hash  BLOB PRIMARY KEY,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    uses_left  INTEGER NOT NULL CHECK (uses_left >= 0)
) STRICT;

-- Mail waiting to be sent; the sender retries with backoff and clears bodies once sent.
CREATE TABLE email_outbox (
    id              INTEGER PRIMARY KEY,
    to_addr         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT,
    -- Deleted as soon as it is delivered (the erasure confirmation).
    purge_on_send   INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX email_outbox_due ON email_outbox (sent_at, next_attempt_at);

-- One row of metadata per API request (time, endpoint, model, status, tokens, cost, IP):
-- never the content. outcome: completed, incomplete, failed, upstream_dropped, client_cancelled, rejected.
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
    ip                    TEXT,
    -- Request fields a translation left out, comma-separated names (never values).
    dropped               TEXT
) STRICT;

CREATE INDEX usage_user_at ON usage (user_id, at);
CREATE INDEX usage_at ON usage (at);
-- The abuse detector's windows, each read from an index alone.
CREATE INDEX usage_at_key_ip ON usage (at, key_id, ip);
CREATE INDEX usage_at_user_cost ON usage (at, user_id, cost);
CREATE INDEX usage_rate_limited ON usage (at, user_id) WHERE error_kind = 'rate_limited';
-- The requests that reached no provider, which the daily sums keep under no model.
CREATE INDEX usage_unserved ON usage
    (user_id, at, model, status, input_tokens, cached_input_tokens, output_tokens, cost, provider)
    WHERE provider IS NULL;

-- Append-only: rows are never updated or deleted while their account exists. When the account is
-- erased they stay, detached: user_id becomes NULL and `detached` a random id shared by that
-- account's rows alone (so their running balance can still be checked).
CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,
    user_id       TEXT REFERENCES users (id) ON DELETE SET NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('topup', 'usage', 'grant', 'adjustment', 'refund', 'redemption')),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    -- What the row is about: a usage row id, a payment id, a redemption code id.
    reference     TEXT,
    -- Who caused it: 'system', 'stripe', 'cli', or a user id.
    actor         TEXT NOT NULL,
    note          TEXT,
    detached      TEXT
) STRICT;

CREATE INDEX ledger_user ON ledger (user_id, id);
-- Rows written by anything but the usage writer, so that it notices them.
CREATE INDEX ledger_external ON ledger (id) WHERE kind <> 'usage';

-- Stripe Checkout top-ups: Stripe's ids and amounts, never card data. Kept, detached (user_id
-- NULL), when the account is erased.
CREATE TABLE payments (
    id                TEXT PRIMARY KEY,
    user_id           TEXT REFERENCES users (id) ON DELETE SET NULL,
    amount            INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('open', 'paid', 'failed', 'expired', 'refunded', 'partially_refunded')),
    session_id        TEXT UNIQUE,
    payment_intent    TEXT,
    customer          TEXT,
    refunded          INTEGER NOT NULL DEFAULT 0,
    disputed          INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    paid_at           INTEGER,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE INDEX payments_user ON payments (user_id, created_at);
CREATE INDEX payments_intent ON payments (payment_intent);

-- Stripe events already handled: a replayed event changes nothing.
CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;

-- Things an admin should look at: a disputed payment, or what an abuse rule saw. evidence is
-- metadata only (counts, networks, times, amounts); one flag per rule and subject stays open.
CREATE TABLE flags (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    user_id     TEXT REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    reference   TEXT,
    detail      TEXT NOT NULL,
    resolved_at INTEGER,
    evidence    TEXT,
    resolved_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    resolution  TEXT,
    handled_at  INTEGER,
    action      TEXT
) STRICT;

CREATE INDEX flags_open ON flags (kind, reference) WHERE resolved_at IS NULL;
CREATE INDEX flags_resolved ON flags (resolved_at) WHERE resolved_at IS NOT NULL;

-- Networks refused on every page and API route; an entry past expires_at no longer blocks.
CREATE TABLE blocklist (
    id         TEXT PRIMARY KEY,
    network    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
) STRICT;

CREATE TABLE redemption_codes (
    id          TEXT PRIMARY KEY,
    code_hash   BLOB NOT NULL UNIQUE,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    max_uses    INTEGER NOT NULL CHECK (max_uses > 0),
    uses        INTEGER NOT NULL DEFAULT 0,
    expires_at  INTEGER,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE redemptions (
    code_id     TEXT NOT NULL REFERENCES redemption_codes (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    PRIMARY KEY (code_id, user_id)
) STRICT;

-- The texts of every policy version the server has shown, for their stable URLs.
CREATE TABLE policy_versions (
    effective_date TEXT PRIMARY KEY,
    privacy        TEXT NOT NULL,
    terms          TEXT NOT NULL,
    first_shown_at INTEGER NOT NULL
) STRICT;

-- First-party site analytics: one row per page view, with no address and no cookie. visitor is
-- a hash of the address and browser under a salt that changes daily and is never stored.
CREATE TABLE page_views (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    path     TEXT NOT NULL,
    referrer TEXT,
    browser  TEXT NOT NULL,
    os       TEXT NOT NULL,
    device   TEXT NOT NULL,
    visitor  BLOB NOT NULL
) STRICT;

CREATE INDEX page_views_at ON page_views (at);

-- Usage summed per UTC day, account, model and provider, kept in step with `usage` by the usage
-- writer; a request that reached no provider sums under no model. Deleted with the usage it sums
-- (the account's erasure, the retention period).
CREATE TABLE usage_daily (
    day           INTEGER NOT NULL,
    user_id       TEXT REFERENCES users (id) ON DELETE CASCADE,
    model         TEXT NOT NULL,
    provider      TEXT NOT NULL,
    requests      INTEGER NOT NULL,
    errors        INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost          INTEGER NOT NULL,
    latency_ms    INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX usage_daily_key ON usage_daily (day, coalesce(user_id, ''), model, provider);
CREATE INDEX usage_daily_user ON usage_daily (user_id, day);

-- The same sums across all accounts, per UTC day, model and provider: a few rows a day, so the
-- console's views by day, model and provider stay instant however many accounts there are. They
-- name no account; they go with the retention period.
CREATE TABLE usage_daily_totals (
    day           INTEGER NOT NULL,
    model         TEXT NOT NULL,
    provider      TEXT NOT NULL,
    requests      INTEGER NOT NULL,
    errors        INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost          INTEGER NOT NULL,
    latency_ms    INTEGER NOT NULL,
    PRIMARY KEY (day, model, provider)
) STRICT, WITHOUT ROWID;

-- Technical and administrative notices from the admins: a dashboard banner until show_until (none
-- when NULL), and a mail to the accounts of the audience when mailed.
CREATE TABLE notices (
    id         INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    created_by TEXT,
    kind       TEXT NOT NULL CHECK (kind IN ('technical', 'administrative')),
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    audience   TEXT NOT NULL CHECK (audience IN ('everyone', 'active', 'admins')),
    show_until INTEGER,
    mailed     INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX notices_shown ON notices (show_until);

-- The notices an account holder closed on their dashboard.
CREATE TABLE notice_dismissals (
    notice_id  INTEGER NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    PRIMARY KEY (notice_id, user_id)
) STRICT;
