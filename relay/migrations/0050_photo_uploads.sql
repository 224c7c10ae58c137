-- Up Migration
-- Resumable photo uploads in progress (spec/openapi.yaml POST /uploads, the tus 1.0.0 protocol).
-- id is the upload's random id (its URL, and the photo's id once complete); the bytes are in
-- DATA_DIR/photo-uploads/<id> until the upload completes and becomes a photos row. A row counts
-- against MAX_PENDING_PHOTOS like a photo, so creating one is checked with the quota.
CREATE TABLE photo_uploads (
  id uuid PRIMARY KEY,
  sender_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  receiver_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  size bigint NOT NULL CHECK (size > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX photo_uploads_sender ON photo_uploads (sender_id);
CREATE INDEX photo_uploads_expires ON photo_uploads (expires_at);

-- Down Migration
DROP TABLE photo_uploads;
