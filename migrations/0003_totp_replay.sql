-- The last time step a two-factor code was accepted in, so that no code works twice.
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
