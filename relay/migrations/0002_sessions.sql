-- Up Migration
-- One row per login (device). The access JWT carries the session id (`sid`), checked on every
-- request, so revoking a row ends the session at once (POST /logout, /logout/all).
-- The session is also the refresh-token family: reuse of a rotated token revokes it.
CREATE TABLE sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoked_reason text CHECK (revoked_reason IN ('logout', 'logout_all', 'refresh_reuse', 'session_limit'))
);
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- Only SHA-256 hashes of refresh tokens are stored. A token is single-use: rotation sets
-- rotated_at, and presenting a rotated token again is reuse (revokes the session).
CREATE TABLE refresh_tokens (
  token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
  session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  rotated_at timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Down Migration
DROP TABLE refresh_tokens;
DROP TABLE sessions;
