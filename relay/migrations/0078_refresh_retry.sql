-- Up Migration
-- The same client may retry a refresh whose answer was lost (spec/openapi.yaml POST
-- /session/refresh, src/auth/sessions.ts refreshSession). The relay must know which token an
-- exchange gave out, to retire it when the exchange is retried and to tell a retry (that token
-- never presented) from reuse; and which client made the exchange: the SHA-256 of the random
-- refresh_id the client sent with it, which it sends again when it retries.
-- replaced_by: the SHA-256 of the token this one was exchanged for; NULL while it is unused,
-- and for a token retired by a retry (presenting it is reuse).
-- refresh_id_hash: the SHA-256 of the exchange's refresh_id; NULL if the client sent none (no
-- retry is possible then).
ALTER TABLE refresh_tokens
  ADD COLUMN replaced_by bytea CHECK (octet_length(replaced_by) = 32),
  ADD COLUMN refresh_id_hash bytea CHECK (octet_length(refresh_id_hash) = 32);

-- Down Migration
ALTER TABLE refresh_tokens DROP COLUMN refresh_id_hash, DROP COLUMN replaced_by;
