-- Up Migration
-- Each user's stream: one ordered sequence numbering everything pushed to that user (messages
-- addressed to them, key-change notices, delivery receipts). The counter row is locked by the
-- statement that takes the next number and stays locked until that statement's transaction
-- commits, so a user's rows become visible in seq order and a reader that has seen seq N never
-- later finds a row below N: the cursor of GET /get_messages and of the WebSocket catch-up.
CREATE TABLE user_streams (
  user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  seq bigint NOT NULL CHECK (seq > 0)
);

-- Stream entries that are not messages. Kept until retention expires, so a contact that was
-- offline still learns of a key change when it catches up.
CREATE TABLE stream_events (
  id bigserial PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  kind text NOT NULL CHECK (kind IN ('key_change', 'delivered')),
  -- key_change: the user whose identity key changed; delivered: the receiver who acknowledged.
  subject_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- delivered only: the acknowledged message and the sender's own idempotency key for it.
  message_id bigint,
  client_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, seq)
);
CREATE INDEX stream_events_created ON stream_events (created_at);

-- Token buckets for per-user rates (send, prekey fetch), shared by every relay process.
CREATE TABLE token_buckets (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  bucket text NOT NULL,
  tokens double precision NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, bucket)
);

-- Down Migration
DROP TABLE token_buckets;
DROP TABLE stream_events;
DROP TABLE user_streams;
