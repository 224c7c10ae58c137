-- Up Migration
-- expired: retention (src/jobs/retention.ts) deleted copies that a device never acknowledged.
-- One item per (device, sender) and sweep, in that device's own stream only (device_id): how
-- many copies from whom, sent between first_sent_at and last_sent_at, so a device back after
-- RETENTION_DAYS learns that it missed messages, and from whom (spec/openapi.yaml GET /ws).
-- subject_id is the sender (the account itself for sync copies). Every other kind names no
-- device: the account's sockets all see it.
ALTER TABLE stream_events
  ADD COLUMN device_id integer,
  ADD COLUMN expired_count integer,
  ADD COLUMN first_sent_at timestamptz,
  ADD COLUMN last_sent_at timestamptz,
  ADD CONSTRAINT stream_events_device FOREIGN KEY (user_id, device_id)
    REFERENCES devices (user_id, device_id) ON DELETE CASCADE;
ALTER TABLE stream_events DROP CONSTRAINT stream_events_kind_check;
ALTER TABLE stream_events ADD CONSTRAINT stream_events_kind_check
  CHECK (kind IN ('key_change', 'delivered', 'identity_replaced', 'devices_changed', 'contacts_changed', 'expired'));
ALTER TABLE stream_events ADD CONSTRAINT stream_events_expired CHECK (
  CASE WHEN kind = 'expired'
       THEN device_id IS NOT NULL AND expired_count IS NOT NULL AND expired_count >= 1
            AND first_sent_at IS NOT NULL AND last_sent_at IS NOT NULL
            AND first_sent_at <= last_sent_at
       ELSE device_id IS NULL AND expired_count IS NULL
            AND first_sent_at IS NULL AND last_sent_at IS NULL
  END
);

-- Down Migration
DELETE FROM stream_events WHERE kind = 'expired';
ALTER TABLE stream_events DROP CONSTRAINT stream_events_expired;
ALTER TABLE stream_events DROP CONSTRAINT stream_events_kind_check;
ALTER TABLE stream_events ADD CONSTRAINT stream_events_kind_check
  CHECK (kind IN ('key_change', 'delivered', 'identity_replaced', 'devices_changed', 'contacts_changed'));
ALTER TABLE stream_events
  DROP CONSTRAINT stream_events_device,
  DROP COLUMN last_sent_at,
  DROP COLUMN first_sent_at,
  DROP COLUMN expired_count,
  DROP COLUMN device_id;
