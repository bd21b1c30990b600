-- Wallets, the ledger, payments and redemption codes.

-- The wallet balance, always equal to the sum of the account's ledger rows.
ALTER TABLE users ADD COLUMN balance INTEGER NOT NULL DEFAULT 0;
-- The fair-use tier; NULL for the configured default.
ALTER TABLE users ADD COLUMN tier TEXT;
-- A monthly spend cap set by an admin; NULL for the tier's.
ALTER TABLE users ADD COLUMN monthly_cap INTEGER;
-- What the account spent in the month `spend_month` (YYYYMM, UTC).
ALTER TABLE users ADD COLUMN spend_month INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN month_spent INTEGER NOT NULL DEFAULT 0;
-- A low-balance email goes out when the balance falls below this; NULL for none.
ALTER TABLE users ADD COLUMN low_balance_alert INTEGER;
ALTER TABLE users ADD COLUMN low_balance_sent_at INTEGER;

-- What the key has spent over its life, for its spend limit.
ALTER TABLE api_keys ADD COLUMN spent INTEGER NOT NULL DEFAULT 0;
-- Requests per minute allowed to the key, below its account's tier.
ALTER TABLE api_keys ADD COLUMN requests_per_minute INTEGER;

-- Append-only: rows are never updated or deleted while their account exists.
CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('topup', 'usage', 'grant', 'adjustment', 'refund', 'redemption')),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    -- What the row is about: a usage row id, a payment id, a redemption code id.
    reference     TEXT,
    -- Who caused it: 'system', 'stripe', 'cli', or a user id.
    actor         TEXT NOT NULL,
    note          TEXT
) STRICT;

CREATE INDEX ledger_user ON ledger (user_id, id);
-- Rows written by anything but the usage writer, so that it notices them.
CREATE INDEX ledger_external ON ledger (id) WHERE kind <> 'usage';

-- Stripe Checkout top-ups: Stripe's ids and amounts, never card data.
CREATE TABLE payments (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
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

-- Things an admin should look at (a disputed payment, ...).
CREATE TABLE flags (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    user_id     TEXT REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    reference   TEXT,
    detail      TEXT NOT NULL,
    resolved_at INTEGER
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
