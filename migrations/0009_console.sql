-- The admin console: daily usage roll-ups that keep its analytics fast at millions of requests,
-- and the notices admins send to account holders.

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

INSERT INTO usage_daily (day, user_id, model, provider, requests, errors, input_tokens,
                         cached_input_tokens, output_tokens, cost, latency_ms)
SELECT at / 86400000, user_id, CASE WHEN provider IS NULL THEN '' ELSE coalesce(model, '') END,
       coalesce(provider, ''), count(*),
       count(*) FILTER (WHERE status NOT BETWEEN 200 AND 299), sum(input_tokens),
       sum(cached_input_tokens), sum(output_tokens), sum(cost), sum(latency_ms)
FROM usage GROUP BY 1, coalesce(user_id, ''), 3, 4;

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

INSERT INTO usage_daily_totals (day, model, provider, requests, errors, input_tokens,
                                cached_input_tokens, output_tokens, cost, latency_ms)
SELECT day, model, provider, sum(requests), sum(errors), sum(input_tokens),
       sum(cached_input_tokens), sum(output_tokens), sum(cost), sum(latency_ms)
FROM usage_daily GROUP BY day, model, provider;

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
