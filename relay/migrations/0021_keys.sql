-- Up Migration
-- Public key material, opaque to the relay (spec/protocol.md §4): it stores and hands out bytes
-- and never checks a signature. Sizes are capped at the boundary (src/keys/limits.ts); the
-- CHECKs below are a generous second line.
CREATE TABLE identity_keys (
  user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  public_key bytea NOT NULL CHECK (octet_length(public_key) BETWEEN 1 AND 256),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The two signed, reusable ("last resort") prekeys: one X25519 and one ML-KEM-768 per user.
CREATE TABLE signed_prekeys (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('x25519', 'mlkem768')),
  key_id bigint NOT NULL CHECK (key_id BETWEEN 0 AND 4294967295),
  public_key bytea NOT NULL CHECK (octet_length(public_key) BETWEEN 1 AND 4096),
  signature bytea NOT NULL CHECK (octet_length(signature) BETWEEN 1 AND 512),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, kind)
);

-- One-time prekeys: each row is handed out at most once (deleted by the fetch that returns it).
CREATE TABLE one_time_prekeys (
  id bigserial PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key_id bigint NOT NULL CHECK (key_id BETWEEN 0 AND 4294967295),
  public_key bytea NOT NULL CHECK (octet_length(public_key) BETWEEN 1 AND 256),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, key_id)
);
CREATE INDEX one_time_prekeys_user ON one_time_prekeys (user_id, id);

-- Down Migration
DROP TABLE one_time_prekeys;
DROP TABLE signed_prekeys;
DROP TABLE identity_keys;
