-- Up Migration
-- One-time recovery codes, issued at registration confirmation; only SHA-256 hashes are kept
-- (the codes are 80 random bits, so a fast hash is enough). used_at set = consumed.
CREATE TABLE recovery_codes (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash bytea NOT NULL CHECK (octet_length(code_hash) = 32),
  used_at timestamptz,
  PRIMARY KEY (user_id, code_hash)
);

-- Down Migration
DROP TABLE recovery_codes;
