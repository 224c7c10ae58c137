-- Up Migration
-- contacts_changed: in the owner's own stream when its contact list or block list changed (POST
-- and DELETE /contacts, /blocks), seen by every device of the account but the session that made
-- the change (spec/openapi.yaml GET /ws), which then reads both lists again: a user blocked on
-- one device loses their chat on the others too.
ALTER TABLE stream_events DROP CONSTRAINT stream_events_kind_check;
ALTER TABLE stream_events ADD CONSTRAINT stream_events_kind_check
  CHECK (kind IN ('key_change', 'delivered', 'identity_replaced', 'devices_changed', 'contacts_changed'));

-- A session's newest contacts_changed item replaces its earlier ones (src/contacts/change-lists.ts):
-- found through this index, not by reading the account's whole stream (its delivery receipts
-- are kept for RETENTION_DAYS), while the account's row is locked.
CREATE INDEX stream_events_contacts_changed ON stream_events (user_id, origin_session_id)
  WHERE kind = 'contacts_changed';

-- A blocked user is never a contact (POST /blocks removes the contact; POST /contacts refuses a
-- blocked user): rows left by adds from before that refusal, or by an add and a block at the
-- same moment before the routes locked the account (src/contacts/change-lists.ts), go.
DELETE FROM contacts c USING blocks b WHERE b.user_id = c.user_id AND b.blocked_id = c.contact_id;

-- Down Migration
DROP INDEX stream_events_contacts_changed;
DELETE FROM stream_events WHERE kind = 'contacts_changed';
ALTER TABLE stream_events DROP CONSTRAINT stream_events_kind_check;
ALTER TABLE stream_events ADD CONSTRAINT stream_events_kind_check
  CHECK (kind IN ('key_change', 'delivered', 'identity_replaced', 'devices_changed'));
