-- Abuse and fraud: the detector's flags carry their evidence and how they were resolved, and
-- operators block networks for a while or for good.

-- What the rule saw (JSON: counts, networks, times, amounts; never request content).
ALTER TABLE flags ADD COLUMN evidence TEXT;
-- Who resolved the flag, and their note.
ALTER TABLE flags ADD COLUMN resolved_by TEXT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE flags ADD COLUMN resolution TEXT;
-- When the admins were told and the configured action taken (NULL: not yet).
ALTER TABLE flags ADD COLUMN handled_at INTEGER;
-- What the server did on its own ("account suspended").
ALTER TABLE flags ADD COLUMN action TEXT;

CREATE INDEX flags_open ON flags (kind, reference) WHERE resolved_at IS NULL;
CREATE INDEX flags_resolved ON flags (resolved_at) WHERE resolved_at IS NOT NULL;

-- The detector's windows over request metadata: distinct networks per key, spend per account,
-- and requests the limits refused, each read from an index alone.
CREATE INDEX usage_at_key_ip ON usage (at, key_id, ip);
CREATE INDEX usage_at_user_cost ON usage (at, user_id, cost);
CREATE INDEX usage_rate_limited ON usage (at, user_id) WHERE error_kind = 'rate_limited';

-- Networks refused on every page and API route; an entry past expires_at no longer blocks.
CREATE TABLE blocklist (
    id         TEXT PRIMARY KEY,
    network    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
) STRICT;

-- Flags raised before this version were shown on the console already: none is mailed now.
UPDATE flags SET handled_at = at;
