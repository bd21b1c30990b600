-- The requests that reached no provider, per account and time: the daily sums keep them under no
-- model, so the dashboard's per-model totals read these few rows apart, from this index alone.
CREATE INDEX usage_unserved ON usage
    (user_id, at, model, status, input_tokens, cached_input_tokens, output_tokens, cost, provider)
    WHERE provider IS NULL;
