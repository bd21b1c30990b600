-- The requests that reached no provider, per account and time: the daily sums keep them under no
-- model, so the dashboard's per-model totals read these few rows apart.
CREATE INDEX usage_unserved ON usage (user_id, at) WHERE provider IS NULL;
