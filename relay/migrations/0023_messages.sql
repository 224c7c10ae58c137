-- Up Migration
-- The brief's messages(id, sender_id, receiver_id, message_encrypted, created_at), plus:
-- client_id: the sender's idempotency key (a retried send finds the same row);
-- seq: the position in the receiver's stream (table user_streams);
-- acked_at: when the receiver acknowledged it. Acknowledging deletes the ciphertext and the
-- receiver (message_encrypted and receiver_id become NULL); what stays until retention expires is
-- a tombstone (id, sender_id, client_id) so that a late retry of the send returns the same id
-- instead of storing the message a second time.
CREATE TABLE messages (
  id bigserial PRIMARY KEY,
  sender_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  receiver_id uuid REFERENCES users (id) ON DELETE CASCADE,
  message_encrypted bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 64),
  seq bigint NOT NULL,
  acked_at timestamptz,
  UNIQUE (sender_id, client_id),
  UNIQUE (receiver_id, seq),
  CHECK ((acked_at IS NULL) = (message_encrypted IS NOT NULL)),
  CHECK ((acked_at IS NULL) = (receiver_id IS NOT NULL))
);
CREATE INDEX messages_created ON messages (created_at);

-- Down Migration
DROP TABLE messages;
