-- The names of the request fields a translation between API formats left out, comma-separated
-- (field names and type tags only, never values); NULL when nothing was left out.
ALTER TABLE usage ADD COLUMN dropped TEXT;
