-- Up Migration
-- RESUME needs a per-device secret (spec/protocol.md §16.9, SECURITY.md "Linked devices"): the
-- relay draws 32 random bytes when it creates a device, returns them once (POST /keys
-- resume_secret) and keeps only their SHA-256 here. Without it, a login plus the identity proof
-- (which every device of the account can make) plus a guessable device_id bound a session to
-- another, still-active device: its mailbox and its prekeys. NULL: a device made before this
-- migration; it gets a secret at its next resume, allowed only while no other live session is
-- bound to it (src/keys/store.ts).
ALTER TABLE devices ADD COLUMN resume_secret_hash bytea CHECK (octet_length(resume_secret_hash) = 32);

-- Down Migration
ALTER TABLE devices DROP COLUMN resume_secret_hash;
