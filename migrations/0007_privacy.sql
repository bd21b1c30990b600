-- Privacy: restriction of processing, acknowledged policy versions, first-party page views,
-- mail that is deleted once delivered, and accounting records that outlive their account.

-- When the user restricted processing (no analytics, no non-essential mail); NULL when not.
ALTER TABLE users ADD COLUMN restricted_at INTEGER;
-- The policy version (its effective date) the user acknowledged, and the one mailed about.
ALTER TABLE users ADD COLUMN policy_seen TEXT;
ALTER TABLE users ADD COLUMN policy_mailed TEXT;

-- Mail whose row is deleted as soon as it is delivered (the erasure confirmation).
ALTER TABLE email_outbox ADD COLUMN purge_on_send INTEGER NOT NULL DEFAULT 0;

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

-- Ledger rows and payments stay when their account is erased, detached from it: user_id becomes
-- NULL and a ledger row keeps only `detached`, a random id shared by the rows of one erased
-- account (so its running balance can still be checked) and linked to nothing else.
CREATE TABLE ledger_new (
    id            INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,
    user_id       TEXT REFERENCES users (id) ON DELETE SET NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('topup', 'usage', 'grant', 'adjustment', 'refund', 'redemption')),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    reference     TEXT,
    actor         TEXT NOT NULL,
    note          TEXT,
    detached      TEXT
) STRICT;
INSERT INTO ledger_new (id, at, user_id, kind, amount, balance_after, reference, actor, note)
    SELECT id, at, user_id, kind, amount, balance_after, reference, actor, note FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_new RENAME TO ledger;
CREATE INDEX ledger_user ON ledger (user_id, id);
CREATE INDEX ledger_external ON ledger (id) WHERE kind <> 'usage';

CREATE TABLE payments_new (
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
INSERT INTO payments_new SELECT * FROM payments;
DROP TABLE payments;
ALTER TABLE payments_new RENAME TO payments;
CREATE INDEX payments_user ON payments (user_id, created_at);
CREATE INDEX payments_intent ON payments (payment_intent);

-- The retention job finds old security events by time.
CREATE INDEX security_events_at ON security_events (at);
