-- Up Migration
-- The brief's photos(id, sender_id, receiver_id, file_path, created_at), plus size. file_path is
-- the random file name under DATA_DIR/photos (never a client-chosen name); the blob is ciphertext.
CREATE TABLE photos (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  sender_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  receiver_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  file_path text NOT NULL UNIQUE CHECK (file_path ~ '^[0-9a-f]{32}$'),
  size bigint NOT NULL CHECK (size > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX photos_sender ON photos (sender_id);
CREATE INDEX photos_receiver ON photos (receiver_id);
CREATE INDEX photos_created ON photos (created_at);

-- Down Migration
DROP TABLE photos;
