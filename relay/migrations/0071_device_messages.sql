-- Up Migration
-- Messages and photos per device (spec/openapi.yaml POST /send_message, GET /get_messages,
-- POST /ack, photos; the linked-devices model of spec/protocol.md §16, Signal's Sesame fan-out).
--
-- A SEND is one request {to, client_id, messages: [{device_id, body}], own: [{device_id, body}]}:
-- one COPY per recipient device and one SYNC copy per other device of the sender. Each copy is a
-- messages row in the mailbox of one device: receiver_id + receiver_device_id (a sync copy has
-- receiver_id = sender_id and own = true). sender_device_id is the sending device (the
-- Envelope's from_device). A send is stored whole or not at all, and once per (sender,
-- client_id): first_copy marks the copy that carries the send's idempotency key (the recipient
-- copy of the lowest device id), unique per (sender_id, client_id); the other copies are only
-- inserted in the same statement after it was (send_message_copies below).
ALTER TABLE messages
  ADD COLUMN receiver_device_id integer,
  ADD COLUMN sender_device_id integer,
  ADD COLUMN own boolean NOT NULL DEFAULT false,
  ADD COLUMN first_copy boolean NOT NULL DEFAULT true;

-- Existing rows were sent by and to the accounts' only device, device 1 (migration 0070 made
-- every account with an identity key device 1). A pending message to an account without a
-- device can never be read by anyone: it is dropped.
DELETE FROM messages m
 WHERE m.receiver_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.user_id = m.receiver_id AND d.device_id = 1);
UPDATE messages SET receiver_device_id = 1, sender_device_id = 1;
ALTER TABLE messages
  ALTER COLUMN receiver_device_id SET NOT NULL,
  ALTER COLUMN sender_device_id SET NOT NULL,
  ALTER COLUMN own DROP DEFAULT,
  ALTER COLUMN first_copy DROP DEFAULT,
  ADD CONSTRAINT messages_devices CHECK (receiver_device_id BETWEEN 1 AND 2147483647
                                         AND sender_device_id BETWEEN 1 AND 2147483647),
  DROP CONSTRAINT messages_sender_id_client_id_key,
  -- One copy per device and kind in a send (also the index of the duplicate look-up).
  ADD CONSTRAINT messages_copy UNIQUE (sender_id, client_id, own, receiver_device_id),
  -- A device's mailbox in stream order (GET /get_messages, the WebSocket, the mailbox cap).
  DROP CONSTRAINT messages_receiver_id_seq_key,
  ADD CONSTRAINT messages_mailbox UNIQUE (receiver_id, receiver_device_id, seq);
CREATE UNIQUE INDEX messages_send ON messages (sender_id, client_id) WHERE first_copy;

-- Photos are uploaded once and read by several devices (spec/openapi.yaml POST /send_photo):
-- one photo_targets row per device that was active at upload in the receiver's account and in
-- the sender's (but the uploading device). A device's acknowledgement (POST /ack photo_ids)
-- deletes its row; the photo goes when no row is left, or at retention.
CREATE TABLE photo_targets (
  photo_id uuid NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  device_id integer NOT NULL,
  PRIMARY KEY (photo_id, user_id, device_id),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX photo_targets_device ON photo_targets (user_id, device_id);
INSERT INTO photo_targets (photo_id, user_id, device_id)
SELECT p.id, d.user_id, d.device_id FROM photos p JOIN devices d ON d.user_id = p.receiver_id
 WHERE d.removed_at IS NULL;
-- The uploading device (a resumable upload becomes a photo of it when complete).
ALTER TABLE photos ADD COLUMN sender_device_id integer;
ALTER TABLE photo_uploads ADD COLUMN sender_device_id integer;

DROP FUNCTION send_message_rows(uuid[], uuid[], text[], text[], bytea[], timestamptz[], text[], float8[], float8[], bigint[]);
DROP FUNCTION send_message_row(uuid, uuid, text, text, bytea, timestamptz, text, float8, float8, bigint);

-- ONE SEND with its copies: the one definition of storing a send (a single send and, through
-- send_message_batch, a group-committed batch; relay/BENCHMARKS.md "group commit"). In order:
--   1. the sender's session is live and bound to a device (else session_revoked /
--      device_required; no token taken);
--   2. one token of the sender's bucket (one per send, whatever its number of copies);
--   3. the recipient is an active account other than the sender (no_recipient / own_account);
--   4. the client_id is new (else known: the caller compares the stored copies);
--   5. the stream counters of the accounts that get copies are taken, in user id order (two
--      sends cannot deadlock on them), BEFORE the device lists are read: delete_device_mailbox
--      (an unlink) takes its account's counter first too, so either this send sees the device
--      removed, or the unlink sees this send's copy and deletes it;
--   6. the copies are exactly the PUBLISHED devices of the recipient and the sender's published
--      devices but the sending one (else stale_devices with both current lists): active, with
--      a complete bundle (identity key and both signed prekeys) — the device_ids of GET
--      /identity/{username} and the devices GET /keys/{username} returns (src/devices/store.ts
--      publishedDeviceIds), so a client can always complete a send by fetching bundles;
--   7. no target device holds p_cap unacknowledged copies (mailbox_full; O(1) in the usual case:
--      a device's pending rows all have seqs between its oldest and the stream's head);
--   8. insert: the first copy with ON CONFLICT DO NOTHING on messages_send (a concurrent send
--      with this client_id makes it insert nothing: known), then the others.
-- A recipient who blocked the sender (spec/openapi.yaml POST /blocks) gets its copies as
-- tombstones (no body, no receiver, acknowledged), so the sender sees an ordinary send and a
-- retry is an ordinary duplicate; the sync copies are stored as usual.
-- Returns one row per stored copy, or one row with `refusal` set and nothing stored.
CREATE FUNCTION send_message_copies(
  p_sender uuid, p_session uuid, p_to text, p_client text,
  p_device integer[], p_own boolean[], p_body bytea[],
  p_now timestamptz, p_bucket text, p_burst float8, p_rate float8, p_cap bigint
) RETURNS TABLE (
  refusal text, device_id integer, own boolean, id bigint, seq bigint, receiver_id uuid,
  created_at timestamptz, sender text, sender_device integer,
  recipient_devices integer[], own_devices integer[]
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  v_dev integer;
  v_rcpt uuid;
  v_blocked boolean;
  v_n_r integer;
  v_n_o integer;
  v_top_r bigint;
  v_top_o bigint;
  v_cur_r integer[];
  v_cur_o integer[];
  v_first integer;
  v_live boolean;
  v_name text;
  v_sent_r integer[];
  v_sent_o integer[];
BEGIN
  -- Few statements (each one is a trip through the executor): the session and its device in one.
  SELECT session_is_live(p_session => p_session, p_user => p_sender, p_now => p_now),
         (SELECT s.device_id FROM sessions s JOIN devices d ON d.user_id = s.user_id AND d.device_id = s.device_id
           WHERE s.id = p_session AND d.removed_at IS NULL)
    INTO v_live, v_dev;
  IF NOT v_live THEN
    RETURN QUERY SELECT 'session_revoked', NULL::int, NULL::bool, NULL::bigint, NULL::bigint, NULL::uuid,
                        NULL::timestamptz, NULL::text, NULL::int, NULL::int[], NULL::int[];
    RETURN;
  END IF;
  IF v_dev IS NULL THEN
    RETURN QUERY SELECT 'device_required', NULL::int, NULL::bool, NULL::bigint, NULL::bigint, NULL::uuid,
                        NULL::timestamptz, NULL::text, NULL::int, NULL::int[], NULL::int[];
    RETURN;
  END IF;
  IF NOT token_bucket_take(p_user => p_sender, p_bucket => p_bucket, p_burst => p_burst,
                           p_rate => p_rate, p_now => p_now) THEN
    RETURN QUERY SELECT 'rate_limited', NULL::int, NULL::bool, NULL::bigint, NULL::bigint, NULL::uuid,
                        NULL::timestamptz, NULL::text, NULL::int, NULL::int[], NULL::int[];
    RETURN;
  END IF;
  SELECT u.id, EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = u.id AND b.blocked_id = p_sender),
         (SELECT su.username FROM users su WHERE su.id = p_sender)
    INTO v_rcpt, v_blocked, v_name
    FROM users u WHERE u.username = p_to AND u.status = 'active';
  IF v_rcpt IS NULL OR v_rcpt = p_sender THEN
    RETURN QUERY SELECT CASE WHEN v_rcpt IS NULL THEN 'no_recipient' ELSE 'own_account' END,
                        NULL::int, NULL::bool, NULL::bigint, NULL::bigint, NULL::uuid,
                        NULL::timestamptz, NULL::text, NULL::int, NULL::int[], NULL::int[];
    RETURN;
  END IF;
  -- Any copy (not only the first): copies left of a send half swept by retention are answered
  -- as known (a duplicate or client_id_reused), never inserted beside.
  IF EXISTS (SELECT 1 FROM messages m WHERE m.sender_id = p_sender AND m.client_id = p_client) THEN
    RETURN QUERY SELECT 'known', NULL::int, NULL::bool, NULL::bigint, NULL::bigint, NULL::uuid,
                        NULL::timestamptz, NULL::text, NULL::int, NULL::int[], NULL::int[];
    RETURN;
  END IF;

  SELECT count(*) FILTER (WHERE NOT x.o), count(*) FILTER (WHERE x.o), min(x.d) FILTER (WHERE NOT x.o),
         coalesce(array_agg(x.d ORDER BY x.d) FILTER (WHERE NOT x.o), '{}'),
         coalesce(array_agg(x.d ORDER BY x.d) FILTER (WHERE x.o), '{}')
    INTO v_n_r, v_n_o, v_first, v_sent_r, v_sent_o
    FROM unnest(p_device, p_own) x(d, o);
  -- 5. Counters in user id order (a blocked recipient's copies take no seq).
  IF v_blocked THEN
    IF v_n_o > 0 THEN v_top_o := stream_take_seq(p_user => p_sender, p_count => v_n_o); END IF;
  ELSIF v_rcpt < p_sender THEN
    v_top_r := stream_take_seq(p_user => v_rcpt, p_count => v_n_r);
    IF v_n_o > 0 THEN v_top_o := stream_take_seq(p_user => p_sender, p_count => v_n_o); END IF;
  ELSE
    IF v_n_o > 0 THEN v_top_o := stream_take_seq(p_user => p_sender, p_count => v_n_o); END IF;
    v_top_r := stream_take_seq(p_user => v_rcpt, p_count => v_n_r);
  END IF;

  -- 6. The device lists, read after the counters were taken.
  SELECT coalesce(array_agg(d.device_id ORDER BY d.device_id) FILTER (WHERE d.user_id = v_rcpt), '{}'),
         coalesce(array_agg(d.device_id ORDER BY d.device_id)
                    FILTER (WHERE d.user_id = p_sender AND d.device_id <> v_dev), '{}')
    INTO v_cur_r, v_cur_o
    FROM devices d
   WHERE d.user_id IN (v_rcpt, p_sender) AND d.removed_at IS NULL
     AND EXISTS (SELECT 1 FROM identity_keys i WHERE i.user_id = d.user_id)
     AND EXISTS (SELECT 1 FROM signed_prekeys k
                  WHERE k.user_id = d.user_id AND k.device_id = d.device_id AND k.kind = 'x25519')
     AND EXISTS (SELECT 1 FROM signed_prekeys k
                  WHERE k.user_id = d.user_id AND k.device_id = d.device_id AND k.kind = 'mlkem768');
  IF v_cur_r IS DISTINCT FROM v_sent_r OR v_cur_o IS DISTINCT FROM v_sent_o THEN
    RETURN QUERY SELECT 'stale_devices', NULL::int, NULL::bool, NULL::bigint, NULL::bigint, NULL::uuid,
                        NULL::timestamptz, NULL::text, NULL::int, v_cur_r, v_cur_o;
    RETURN;
  END IF;

  -- 7. Every mailbox that gets a stored copy has room.
  IF EXISTS (
    SELECT 1 FROM unnest(p_device, p_own) x(d, o),
           LATERAL (SELECT CASE WHEN x.o THEN p_sender ELSE v_rcpt END AS u) t
     WHERE (x.o OR NOT v_blocked)
       AND COALESCE((SELECT us.seq + 1 - f.seq FROM user_streams us,
                            LATERAL (SELECT p.seq FROM messages p
                                      WHERE p.receiver_id = t.u AND p.receiver_device_id = x.d
                                      ORDER BY p.seq LIMIT 1) f
                      WHERE us.user_id = t.u), 0) >= p_cap
       AND (SELECT count(*) FROM (SELECT 1 FROM messages p
                                   WHERE p.receiver_id = t.u AND p.receiver_device_id = x.d LIMIT p_cap) c) >= p_cap
  ) THEN
    RETURN QUERY SELECT 'mailbox_full', NULL::int, NULL::bool, NULL::bigint, NULL::bigint, NULL::uuid,
                        NULL::timestamptz, NULL::text, NULL::int, NULL::int[], NULL::int[];
    RETURN;
  END IF;

  -- 8. The copies, numbered in device order within each stream; the first copy is inserted
  -- first (ON CONFLICT on messages_send), the others only if it was.
  RETURN QUERY
    WITH c AS (
      SELECT x.d, x.o, x.b,
             CASE WHEN x.o THEN p_sender WHEN v_blocked THEN NULL ELSE v_rcpt END AS rcpt,
             CASE WHEN x.o THEN v_top_o - v_n_o + row_number() OVER (PARTITION BY x.o ORDER BY x.d)
                  WHEN v_blocked THEN 0
                  ELSE v_top_r - v_n_r + row_number() OVER (PARTITION BY x.o ORDER BY x.d) END AS s,
             NOT x.o AND x.d = v_first AS first
        FROM unnest(p_device, p_own, p_body) x(d, o, b)
    ),
    f AS (
      INSERT INTO messages AS m (sender_id, receiver_id, client_id, seq, message_encrypted, created_at,
                                 acked_at, receiver_device_id, sender_device_id, own, first_copy)
      SELECT p_sender, c.rcpt, p_client, c.s, CASE WHEN c.rcpt IS NOT NULL THEN c.b END, p_now,
             CASE WHEN c.rcpt IS NULL THEN p_now END, c.d, v_dev, c.o, true
        FROM c WHERE c.first
      ON CONFLICT (sender_id, client_id) WHERE first_copy DO NOTHING
      RETURNING m.id
    ),
    r AS (
      INSERT INTO messages AS m (sender_id, receiver_id, client_id, seq, message_encrypted, created_at,
                                 acked_at, receiver_device_id, sender_device_id, own, first_copy)
      SELECT p_sender, c.rcpt, p_client, c.s, CASE WHEN c.rcpt IS NOT NULL THEN c.b END, p_now,
             CASE WHEN c.rcpt IS NULL THEN p_now END, c.d, v_dev, c.o, false
        FROM c WHERE NOT c.first AND EXISTS (SELECT 1 FROM f)
      RETURNING m.id, m.receiver_device_id, m.own
    )
    SELECT CASE WHEN EXISTS (SELECT 1 FROM f) THEN NULL ELSE 'known' END,
           c.d, c.o, CASE WHEN c.first THEN (SELECT f.id FROM f) ELSE r.id END,
           CASE WHEN c.rcpt IS NOT NULL THEN c.s END, c.rcpt, p_now, v_name, v_dev, NULL::int[], NULL::int[]
      FROM c LEFT JOIN r ON r.receiver_device_id = c.d AND r.own = c.o
     ORDER BY c.o, c.d;
END
$$;

-- A batch: the sends of the arrays, each stored by send_message_copies in array order, each
-- seeing what the sends before it stored (a spent bucket, a used client_id, a fuller mailbox),
-- exactly as the same statements one after another in one transaction. Send i has the copies
-- p_first[i] .. p_first[i] + p_count[i] - 1 of the copy arrays (p_device, p_own, p_body).
-- Returns send_message_copies's rows with the 1-based index of their send. The caller orders
-- the sends by recipient (src/messages/group-commit.ts); any error aborts the whole statement,
-- nothing of the batch is stored, and the caller reruns each send alone.
CREATE FUNCTION send_message_batch(
  p_sender uuid[], p_session uuid[], p_to text[], p_client text[], p_first integer[], p_count integer[],
  p_device integer[], p_own boolean[], p_body bytea[],
  p_now timestamptz[], p_bucket text[], p_burst float8[], p_rate float8[], p_cap bigint[]
) RETURNS TABLE (
  ord integer, refusal text, device_id integer, own boolean, id bigint, seq bigint, receiver_id uuid,
  created_at timestamptz, sender text, sender_device integer,
  recipient_devices integer[], own_devices integer[]
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
  FOR i IN 1 .. coalesce(cardinality(p_sender), 0) LOOP
    RETURN QUERY
      SELECT i, x.refusal, x.device_id, x.own, x.id, x.seq, x.receiver_id, x.created_at, x.sender,
             x.sender_device, x.recipient_devices, x.own_devices
        FROM send_message_copies(
               p_sender => p_sender[i], p_session => p_session[i], p_to => p_to[i], p_client => p_client[i],
               p_device => p_device[p_first[i] : p_first[i] + p_count[i] - 1],
               p_own => p_own[p_first[i] : p_first[i] + p_count[i] - 1],
               p_body => p_body[p_first[i] : p_first[i] + p_count[i] - 1],
               p_now => p_now[i], p_bucket => p_bucket[i], p_burst => p_burst[i], p_rate => p_rate[i],
               p_cap => p_cap[i]) x;
  END LOOP;
END
$$;

-- A removed device's mailbox (spec/openapi.yaml DELETE /devices/{device_id}; migration 0070
-- declared this hook, src/devices calls it in the removing transaction AFTER the device row is
-- marked removed): its pending copies lose their ciphertext and become tombstones (no receipt; a
-- retry of the send is still a duplicate), and its photo acknowledgements are dropped; a photo no
-- device is left to acknowledge is deleted, with its file, by the periodic sweep
-- (src/jobs/retention.ts). Returns how many pending copies were deleted.
-- First it takes the account's stream counter (a harmless gap in the seqs), in a statement of
-- its own: a send that read the device as active holds that counter until it commits (see
-- send_message_copies step 5), so the tombstoning statement after it, with a new snapshot, sees
-- that send's copy; a send that comes later waits for this transaction and then reads the
-- device as removed (409 stale_devices). No copy for a removed device is left behind.
CREATE OR REPLACE FUNCTION delete_device_mailbox(p_user uuid, p_device integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_n bigint;
BEGIN
  PERFORM stream_take_seq(p_user => p_user);
  DELETE FROM photo_targets t WHERE t.user_id = p_user AND t.device_id = p_device;
  UPDATE messages SET message_encrypted = NULL, receiver_id = NULL, acked_at = now()
   WHERE receiver_id = p_user AND receiver_device_id = p_device;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;

-- Down Migration
CREATE OR REPLACE FUNCTION delete_device_mailbox(p_user uuid, p_device integer) RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT 0::bigint $$;
DROP FUNCTION send_message_batch(uuid[], uuid[], text[], text[], integer[], integer[], integer[], boolean[], bytea[], timestamptz[], text[], float8[], float8[], bigint[]);
DROP FUNCTION send_message_copies(uuid, uuid, text, text, integer[], boolean[], bytea[], timestamptz, text, float8, float8, bigint);
ALTER TABLE photo_uploads DROP COLUMN sender_device_id;
ALTER TABLE photos DROP COLUMN sender_device_id;
DROP TABLE photo_targets;
DROP INDEX messages_send;
DELETE FROM messages WHERE NOT first_copy;
ALTER TABLE messages
  DROP CONSTRAINT messages_mailbox,
  ADD CONSTRAINT messages_receiver_id_seq_key UNIQUE (receiver_id, seq),
  DROP CONSTRAINT messages_copy,
  ADD CONSTRAINT messages_sender_id_client_id_key UNIQUE (sender_id, client_id),
  DROP CONSTRAINT messages_devices,
  DROP COLUMN first_copy, DROP COLUMN own, DROP COLUMN sender_device_id, DROP COLUMN receiver_device_id;
-- The functions of migration 0061 are restored by running its Up section again.
