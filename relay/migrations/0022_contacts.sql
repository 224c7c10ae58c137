-- Up Migration
-- The brief's contacts(user_id, contact_id): user_id added contact_id (one direction; adding is
-- unilateral and needs no consent, it only shapes the user's own list and who hears of key changes).
CREATE TABLE contacts (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  contact_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, contact_id),
  CHECK (user_id <> contact_id)
);
CREATE INDEX contacts_contact ON contacts (contact_id);

-- Down Migration
DROP TABLE contacts;
