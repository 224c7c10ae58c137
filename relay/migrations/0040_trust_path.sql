-- Up Migration
-- The trust path (spec/openapi.yaml: /session/reauth, /sessions, /totp/reenroll,
-- /recovery_codes/regenerate, /blocks; POST /login throttling; GET /ws identity_replaced).

-- Sessions: when this session last proved the second factor (login or POST /session/reauth;
-- replacing the identity key needs it within 5 minutes), when it was last used (login,
-- re-authentication, refresh), and a coarse client description ("Firefox on Android") made
-- from the User-Agent at login; the User-Agent itself and the IP are not stored.
ALTER TABLE sessions
  ADD COLUMN reauthenticated_at timestamptz,
  ADD COLUMN last_used_at timestamptz,
  ADD COLUMN client text CHECK (length(client) <= 64);
ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN
  ('logout', 'logout_all', 'refresh_reuse', 'session_limit', 'ended', 'totp_reenrolled', 'recovery_codes_regenerated'));

-- A TOTP secret being re-enrolled: active only once confirmed with one of its codes. Same
-- at-rest format as users.totp_secret (src/auth/totp-secret.ts).
ALTER TABLE users
  ADD COLUMN pending_totp_secret bytea,
  ADD COLUMN pending_totp_expires_at timestamptz,
  ADD CONSTRAINT users_pending_totp CHECK ((pending_totp_secret IS NULL) = (pending_totp_expires_at IS NULL));

-- Throttling per (account, IP) besides per account and per IP (src/auth/throttle.ts).
ALTER TABLE login_throttle DROP CONSTRAINT login_throttle_scope_check;
ALTER TABLE login_throttle ADD CONSTRAINT login_throttle_scope_check CHECK (scope IN ('user', 'user_ip', 'ip'));

-- identity_replaced: in the owner's own stream when its identity key was replaced; delivered
-- to every session but origin_session_id, the one that replaced it.
ALTER TABLE stream_events DROP CONSTRAINT stream_events_kind_check;
ALTER TABLE stream_events ADD CONSTRAINT stream_events_kind_check CHECK (kind IN ('key_change', 'delivered', 'identity_replaced'));
ALTER TABLE stream_events ADD COLUMN origin_session_id uuid;

-- user_id blocked blocked_id: messages and photos from blocked_id to user_id are accepted and dropped.
CREATE TABLE blocks (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  blocked_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, blocked_id),
  CHECK (user_id <> blocked_id)
);

-- Down Migration
DROP TABLE blocks;
ALTER TABLE stream_events DROP COLUMN origin_session_id;
ALTER TABLE stream_events DROP CONSTRAINT stream_events_kind_check;
ALTER TABLE stream_events ADD CONSTRAINT stream_events_kind_check CHECK (kind IN ('key_change', 'delivered'));
ALTER TABLE login_throttle DROP CONSTRAINT login_throttle_scope_check;
ALTER TABLE login_throttle ADD CONSTRAINT login_throttle_scope_check CHECK (scope IN ('user', 'ip'));
ALTER TABLE users DROP CONSTRAINT users_pending_totp, DROP COLUMN pending_totp_secret, DROP COLUMN pending_totp_expires_at;
ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN
  ('logout', 'logout_all', 'refresh_reuse', 'session_limit'));
ALTER TABLE sessions DROP COLUMN reauthenticated_at, DROP COLUMN last_used_at, DROP COLUMN client;
