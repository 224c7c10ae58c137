-- Up Migration
-- Linked devices (spec/protocol.md §16; spec/openapi.yaml tag "devices"): one account, one
-- identity key, up to DEVICE_LIMIT devices, each with its own signed prekeys and one-time stocks.

-- device_id: chosen by the relay per account, increasing and never reused (a removed device's
-- row stays as a tombstone, so a returning device learns it was removed: 409 device_removed).
-- next_device_id is the next one to hand out; bigint so that handing out 2^31 − 1 cannot overflow.
ALTER TABLE users
  ADD COLUMN next_device_id bigint NOT NULL DEFAULT 1 CHECK (next_device_id BETWEEN 1 AND 2147483648);

CREATE TABLE devices (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  device_id integer NOT NULL CHECK (device_id BETWEEN 1 AND 2147483647),
  -- Client-chosen ("Chromium on Linux"), validated at the boundary (src/devices/validate.ts).
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
  kind text NOT NULL CHECK (kind IN ('phone', 'tablet', 'desktop', 'other')),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  removed_at timestamptz,
  -- unlinked: DELETE /devices/{id}; start_over: a new identity key (POST /keys) removed it.
  removed_reason text CHECK (removed_reason IN ('unlinked', 'start_over')),
  PRIMARY KEY (user_id, device_id),
  CONSTRAINT devices_removed_reason CHECK ((removed_at IS NULL) = (removed_reason IS NULL))
);
CREATE INDEX devices_active ON devices (user_id, device_id) WHERE removed_at IS NULL;

-- A login session is device-less until POST /keys binds it to exactly one device of the same
-- account (the composite key makes another account's device impossible).
ALTER TABLE sessions ADD COLUMN device_id integer;
ALTER TABLE sessions ADD CONSTRAINT sessions_device_fk
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE;
CREATE INDEX sessions_device ON sessions (user_id, device_id) WHERE revoked_at IS NULL AND device_id IS NOT NULL;
ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN
  ('logout', 'logout_all', 'refresh_reuse', 'session_limit', 'ended', 'totp_reenrolled',
   'recovery_codes_regenerated', 'device_removed'));

-- devices_changed: in the owner's own stream when one of its devices was removed (or added), seen
-- by every device of the account.
ALTER TABLE stream_events DROP CONSTRAINT stream_events_kind_check;
ALTER TABLE stream_events ADD CONSTRAINT stream_events_kind_check
  CHECK (kind IN ('key_change', 'delivered', 'identity_replaced', 'devices_changed'));

-- Existing data: every account that has an identity key becomes device 1, named after its newest
-- live session's client description; its live sessions and all of its prekeys belong to it.
INSERT INTO devices (user_id, device_id, name, kind, created_at, last_seen_at)
SELECT i.user_id, 1,
       COALESCE((SELECT s.client FROM sessions s
                  WHERE s.user_id = i.user_id AND s.revoked_at IS NULL AND s.client IS NOT NULL
                    AND char_length(s.client) BETWEEN 1 AND 64
                  ORDER BY s.created_at DESC, s.id LIMIT 1), 'Device 1'),
       'other', i.created_at,
       GREATEST(i.updated_at, COALESCE((SELECT max(COALESCE(s.last_used_at, s.created_at)) FROM sessions s
                                          WHERE s.user_id = i.user_id), i.updated_at))
  FROM identity_keys i;
UPDATE users u SET next_device_id = 2 WHERE EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id);
UPDATE sessions s SET device_id = 1
 WHERE s.revoked_at IS NULL AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = s.user_id);

-- Prekeys per (account, device). Rows of an account without an identity key cannot be handed out
-- (a bundle needs the identity) and have no device to belong to: dropped.
ALTER TABLE signed_prekeys ADD COLUMN device_id integer;
ALTER TABLE one_time_prekeys ADD COLUMN device_id integer;
ALTER TABLE one_time_pq_prekeys ADD COLUMN device_id integer;
DELETE FROM signed_prekeys p WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.user_id = p.user_id);
DELETE FROM one_time_prekeys p WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.user_id = p.user_id);
DELETE FROM one_time_pq_prekeys p WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.user_id = p.user_id);
UPDATE signed_prekeys SET device_id = 1;
UPDATE one_time_prekeys SET device_id = 1;
UPDATE one_time_pq_prekeys SET device_id = 1;

ALTER TABLE signed_prekeys
  ALTER COLUMN device_id SET NOT NULL,
  DROP CONSTRAINT signed_prekeys_pkey,
  ADD PRIMARY KEY (user_id, device_id, kind),
  ADD CONSTRAINT signed_prekeys_device_fk
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE;

ALTER TABLE one_time_prekeys
  ALTER COLUMN device_id SET NOT NULL,
  DROP CONSTRAINT one_time_prekeys_user_id_key_id_key,
  ADD CONSTRAINT one_time_prekeys_device_key_id UNIQUE (user_id, device_id, key_id),
  ADD CONSTRAINT one_time_prekeys_device_fk
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE;
DROP INDEX one_time_prekeys_user;
-- The hand-out takes the oldest row of one device (src/keys/store.ts TAKE_OPK).
CREATE INDEX one_time_prekeys_device ON one_time_prekeys (user_id, device_id, id);

ALTER TABLE one_time_pq_prekeys
  ALTER COLUMN device_id SET NOT NULL,
  DROP CONSTRAINT one_time_pq_prekeys_user_id_key_id_key,
  ADD CONSTRAINT one_time_pq_prekeys_device_key_id UNIQUE (user_id, device_id, key_id),
  ADD CONSTRAINT one_time_pq_prekeys_device_fk
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE;
DROP INDEX one_time_pq_prekeys_user;
CREATE INDEX one_time_pq_prekeys_device ON one_time_pq_prekeys (user_id, device_id, id);

-- Provisioning addresses (spec/protocol.md §16, spec/openapi.yaml /provisioning): a new device's
-- session opens one (address = 16 random bytes), an existing device of the same account reads its
-- ML-KEM key and PUTs the sealed provisioning message once, the new device fetches it once (the
-- row is then deleted). Expires PROVISIONING_TTL_SECONDS after creation; expired rows are swept
-- by the periodic jobs (src/jobs). The message is opaque ciphertext (≤ MAX_PROVISIONING_BYTES).
CREATE TABLE provisioning (
  address bytea PRIMARY KEY CHECK (octet_length(address) = 16),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- The session that opened it: the only one that may fetch the message.
  session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  pq_key bytea NOT NULL CHECK (octet_length(pq_key) BETWEEN 1 AND 1600),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
  kind text NOT NULL CHECK (kind IN ('phone', 'tablet', 'desktop', 'other')),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  message bytea CHECK (octet_length(message) BETWEEN 1 AND 8388608),
  put_at timestamptz,
  -- The device that sealed the message: unlinking it deletes what it sent and was not fetched yet.
  put_device_id integer,
  CONSTRAINT provisioning_put CHECK ((message IS NULL) = (put_at IS NULL) AND (message IS NULL) = (put_device_id IS NULL)),
  CONSTRAINT provisioning_put_device_fk
    FOREIGN KEY (user_id, put_device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX provisioning_user ON provisioning (user_id, expires_at);
CREATE INDEX provisioning_expiry ON provisioning (expires_at);
CREATE INDEX provisioning_session ON provisioning (session_id);

-- Deleting a removed device's pending mailbox (DELETE /devices/{id}, start over in POST /keys):
-- called by src/devices/store.ts in the removing transaction. Messages are not per device yet
-- here; migration 0071 (messages per device) replaces this body with the real deletion.
CREATE FUNCTION delete_device_mailbox(p_user uuid, p_device integer) RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT 0::bigint $$;

-- Down Migration
DROP FUNCTION delete_device_mailbox(uuid, integer);
DROP TABLE provisioning;
DELETE FROM signed_prekeys WHERE device_id <> 1;
DELETE FROM one_time_prekeys WHERE device_id <> 1;
DELETE FROM one_time_pq_prekeys WHERE device_id <> 1;
DROP INDEX one_time_pq_prekeys_device;
CREATE INDEX one_time_pq_prekeys_user ON one_time_pq_prekeys (user_id, id);
ALTER TABLE one_time_pq_prekeys
  DROP CONSTRAINT one_time_pq_prekeys_device_fk,
  DROP CONSTRAINT one_time_pq_prekeys_device_key_id,
  ADD CONSTRAINT one_time_pq_prekeys_user_id_key_id_key UNIQUE (user_id, key_id),
  DROP COLUMN device_id;
DROP INDEX one_time_prekeys_device;
CREATE INDEX one_time_prekeys_user ON one_time_prekeys (user_id, id);
ALTER TABLE one_time_prekeys
  DROP CONSTRAINT one_time_prekeys_device_fk,
  DROP CONSTRAINT one_time_prekeys_device_key_id,
  ADD CONSTRAINT one_time_prekeys_user_id_key_id_key UNIQUE (user_id, key_id),
  DROP COLUMN device_id;
ALTER TABLE signed_prekeys
  DROP CONSTRAINT signed_prekeys_device_fk,
  DROP CONSTRAINT signed_prekeys_pkey,
  ADD PRIMARY KEY (user_id, kind),
  DROP COLUMN device_id;
DELETE FROM stream_events WHERE kind = 'devices_changed';
ALTER TABLE stream_events DROP CONSTRAINT stream_events_kind_check;
ALTER TABLE stream_events ADD CONSTRAINT stream_events_kind_check CHECK (kind IN ('key_change', 'delivered', 'identity_replaced'));
UPDATE sessions SET revoked_reason = 'ended' WHERE revoked_reason = 'device_removed';
ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN
  ('logout', 'logout_all', 'refresh_reuse', 'session_limit', 'ended', 'totp_reenrolled', 'recovery_codes_regenerated'));
DROP INDEX sessions_device;
ALTER TABLE sessions DROP CONSTRAINT sessions_device_fk, DROP COLUMN device_id;
DROP TABLE devices;
ALTER TABLE users DROP COLUMN next_device_id;
