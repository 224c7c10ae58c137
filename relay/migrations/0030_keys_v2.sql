-- Up Migration
-- Protocol version 2 key material (spec/protocol.md §4.4, §4.6; spec/openapi.yaml POST /keys).

-- One identity key names one account (409 identity_key_taken). An identity key held by more
-- than one account could only come from uploads made before identity proofs existed, and none
-- of its holders proved possession: it is dropped with that account's prekeys, and the device
-- uploads a new identity (with its proof) at its next login.
WITH shared AS (
  SELECT user_id FROM identity_keys i
   WHERE EXISTS (SELECT 1 FROM identity_keys j WHERE j.public_key = i.public_key AND j.user_id <> i.user_id)
),
spk AS (DELETE FROM signed_prekeys WHERE user_id IN (SELECT user_id FROM shared)),
opk AS (DELETE FROM one_time_prekeys WHERE user_id IN (SELECT user_id FROM shared))
DELETE FROM identity_keys WHERE user_id IN (SELECT user_id FROM shared);
CREATE UNIQUE INDEX identity_keys_public_key ON identity_keys (public_key);

-- One-time ML-KEM-768 prekeys (PQXDH): signed, each row handed out at most once (deleted by the
-- bundle fetch that returns it); the last-resort key in signed_prekeys serves when none is left.
CREATE TABLE one_time_pq_prekeys (
  id bigserial PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key_id bigint NOT NULL CHECK (key_id BETWEEN 0 AND 4294967295),
  public_key bytea NOT NULL CHECK (octet_length(public_key) BETWEEN 1 AND 4096),
  signature bytea NOT NULL CHECK (octet_length(signature) BETWEEN 1 AND 512),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, key_id)
);
CREATE INDEX one_time_pq_prekeys_user ON one_time_pq_prekeys (user_id, id);

-- Down Migration
DROP TABLE one_time_pq_prekeys;
DROP INDEX identity_keys_public_key;
