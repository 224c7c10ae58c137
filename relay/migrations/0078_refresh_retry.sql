-- Up Migration
-- A refresh whose answer was lost can be made again (spec/openapi.yaml POST /session/refresh,
-- src/auth/sessions.ts refreshSession): the relay must know which token a rotation gave out, to
-- retire it when the rotated token comes back as a retry, and to tell a retry (that token never
-- presented) from reuse (it was). replaced_by: the SHA-256 of the token this one was exchanged
-- for; NULL while it is unused, and for a token retired by a retry (presenting it is reuse).
ALTER TABLE refresh_tokens ADD COLUMN replaced_by bytea CHECK (octet_length(replaced_by) = 32);

-- Down Migration
ALTER TABLE refresh_tokens DROP COLUMN replaced_by;
