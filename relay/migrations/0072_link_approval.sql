-- Up Migration
-- Linking needs the approval of a device of the account (spec/protocol.md §16.8, Signal's
-- provisioning code): a device-less session may create a LINKED device (POST /keys with the
-- account's published identity key, no device_id) only after it fetched a provisioning message
-- that an active device of the account sealed for it (GET /provisioning/{address}/message).
-- Without this, the identity proof (§4.6, a fixed signature every device can make and every
-- upload repeats) plus a login was enough: a removed device, or anyone who once saw an upload,
-- could add a device to the account and receive its messages without any device agreeing.
ALTER TABLE sessions ADD COLUMN provisioned_at timestamptz;

-- Down Migration
ALTER TABLE sessions DROP COLUMN provisioned_at;
