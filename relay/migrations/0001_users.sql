-- Up Migration
-- users: one row per account (id, username, totp_secret, created_at) plus enrolment and TOTP state.
-- username is stored already normalised (NFKC, lowercase ASCII; spec/openapi.yaml "Username"),
-- so the unique index gives case-insensitive uniqueness.
-- totp_secret is AES-256-GCM ciphertext: version byte 1 || 12-byte nonce || ciphertext || 16-byte tag,
-- with the user id as associated data (src/auth/totp-secret.ts).
CREATE TABLE users (
  id uuid PRIMARY KEY,
  username text NOT NULL,
  totp_secret bytea NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active')),
  -- pending registrations expire and free the username (deleted lazily on the next register).
  pending_expires_at timestamptz,
  -- RFC 6238 time step of the last accepted code; a step is accepted at most once.
  last_used_step bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  confirmed_at timestamptz,
  CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9](?:[a-z0-9_]{1,30})[a-z0-9]$'),
  CONSTRAINT users_pending_has_expiry CHECK ((status = 'pending') = (pending_expires_at IS NOT NULL))
);
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE INDEX users_pending_expiry ON users (pending_expires_at) WHERE status = 'pending';

-- Down Migration
DROP TABLE users;
