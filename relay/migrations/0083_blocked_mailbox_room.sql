-- Up Migration
-- A blocked sender is answered as any other (spec/openapi.yaml POST /blocks: "so it cannot tell
-- it is blocked"), a full mailbox included. send_message_copies checked room (step 7) only for
-- the mailboxes that get a stored copy, and a blocked recipient's copies are tombstones: while a
-- device of the blocker held MAX_PENDING_MESSAGES unacknowledged copies, every other sender got
-- 409 mailbox_full and the blocked one 201, which told it of the block (an accomplice's messages
-- fill the mailbox of a device that is offline). Now the recipient's mailboxes are checked
-- whether or not the sender is blocked. The group-committed set-based path stores no blocked
-- send (migration 0079: it falls back to this function), so it needs no change.
CREATE OR REPLACE FUNCTION send_message_copies(
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
  SELECT ls.device_id INTO v_dev
    FROM live_session(p_session => p_session, p_user => p_sender, p_now => p_now) ls;
  v_live := FOUND;
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
  SELECT coalesce(array_agg(p.device_id ORDER BY p.device_id) FILTER (WHERE a.u = v_rcpt), '{}'),
         coalesce(array_agg(p.device_id ORDER BY p.device_id)
                    FILTER (WHERE a.u = p_sender AND p.device_id <> v_dev), '{}')
    INTO v_cur_r, v_cur_o
    FROM (VALUES (v_rcpt), (p_sender)) a(u), LATERAL published_device_ids(p_user => a.u) p;
  IF v_cur_r IS DISTINCT FROM v_sent_r OR v_cur_o IS DISTINCT FROM v_sent_o THEN
    RETURN QUERY SELECT 'stale_devices', NULL::int, NULL::bool, NULL::bigint, NULL::bigint, NULL::uuid,
                        NULL::timestamptz, NULL::text, NULL::int, v_cur_r, v_cur_o;
    RETURN;
  END IF;

  -- 7. Every mailbox the send names has room (mailbox_room above), a blocked recipient's too:
  -- its copies are dropped, but the answer is the one an unblocked sender would get (0083).
  IF EXISTS (
    SELECT 1 FROM unnest(p_device, p_own) x(d, o)
     WHERE NOT (SELECT r.has_room FROM mailbox_room(p_user => CASE WHEN x.o THEN p_sender ELSE v_rcpt END,
                                                    p_device => x.d, p_cap => p_cap) r)
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
                                 acked_at, receiver_device_id, sender_device_id, own, first_copy, body_digest)
      SELECT p_sender, c.rcpt, p_client, c.s, CASE WHEN c.rcpt IS NOT NULL THEN c.b END, p_now,
             CASE WHEN c.rcpt IS NULL THEN p_now END, c.d, v_dev, c.o, true,
             CASE WHEN c.rcpt IS NULL THEN sha256(convert_to(v_rcpt::text, 'UTF8') || c.b) END
        FROM c WHERE c.first
      ON CONFLICT (sender_id, client_id) WHERE first_copy DO NOTHING
      RETURNING m.id
    ),
    r AS (
      INSERT INTO messages AS m (sender_id, receiver_id, client_id, seq, message_encrypted, created_at,
                                 acked_at, receiver_device_id, sender_device_id, own, first_copy, body_digest)
      SELECT p_sender, c.rcpt, p_client, c.s, CASE WHEN c.rcpt IS NOT NULL THEN c.b END, p_now,
             CASE WHEN c.rcpt IS NULL THEN p_now END, c.d, v_dev, c.o, false,
             CASE WHEN c.rcpt IS NULL THEN sha256(convert_to(v_rcpt::text, 'UTF8') || c.b) END
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

-- CREATE OR REPLACE resets the function's settings (migration 0076).
ALTER FUNCTION send_message_copies(uuid, uuid, text, text, integer[], boolean[], bytea[], timestamptz, text, float8, float8, bigint)
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION send_message_copies(uuid, uuid, text, text, integer[], boolean[], bytea[], timestamptz, text, float8, float8, bigint)
  SET enable_seqscan = off;

-- Down Migration
-- As migration 0082 left it.
CREATE OR REPLACE FUNCTION send_message_copies(
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
  SELECT ls.device_id INTO v_dev
    FROM live_session(p_session => p_session, p_user => p_sender, p_now => p_now) ls;
  v_live := FOUND;
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
  SELECT coalesce(array_agg(p.device_id ORDER BY p.device_id) FILTER (WHERE a.u = v_rcpt), '{}'),
         coalesce(array_agg(p.device_id ORDER BY p.device_id)
                    FILTER (WHERE a.u = p_sender AND p.device_id <> v_dev), '{}')
    INTO v_cur_r, v_cur_o
    FROM (VALUES (v_rcpt), (p_sender)) a(u), LATERAL published_device_ids(p_user => a.u) p;
  IF v_cur_r IS DISTINCT FROM v_sent_r OR v_cur_o IS DISTINCT FROM v_sent_o THEN
    RETURN QUERY SELECT 'stale_devices', NULL::int, NULL::bool, NULL::bigint, NULL::bigint, NULL::uuid,
                        NULL::timestamptz, NULL::text, NULL::int, v_cur_r, v_cur_o;
    RETURN;
  END IF;

  -- 7. Every mailbox that gets a stored copy has room (mailbox_room above).
  IF EXISTS (
    SELECT 1 FROM unnest(p_device, p_own) x(d, o)
     WHERE (x.o OR NOT v_blocked)
       AND NOT (SELECT r.has_room FROM mailbox_room(p_user => CASE WHEN x.o THEN p_sender ELSE v_rcpt END,
                                                    p_device => x.d, p_cap => p_cap) r)
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
                                 acked_at, receiver_device_id, sender_device_id, own, first_copy, body_digest)
      SELECT p_sender, c.rcpt, p_client, c.s, CASE WHEN c.rcpt IS NOT NULL THEN c.b END, p_now,
             CASE WHEN c.rcpt IS NULL THEN p_now END, c.d, v_dev, c.o, true,
             CASE WHEN c.rcpt IS NULL THEN sha256(convert_to(v_rcpt::text, 'UTF8') || c.b) END
        FROM c WHERE c.first
      ON CONFLICT (sender_id, client_id) WHERE first_copy DO NOTHING
      RETURNING m.id
    ),
    r AS (
      INSERT INTO messages AS m (sender_id, receiver_id, client_id, seq, message_encrypted, created_at,
                                 acked_at, receiver_device_id, sender_device_id, own, first_copy, body_digest)
      SELECT p_sender, c.rcpt, p_client, c.s, CASE WHEN c.rcpt IS NOT NULL THEN c.b END, p_now,
             CASE WHEN c.rcpt IS NULL THEN p_now END, c.d, v_dev, c.o, false,
             CASE WHEN c.rcpt IS NULL THEN sha256(convert_to(v_rcpt::text, 'UTF8') || c.b) END
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

-- CREATE OR REPLACE resets the function's settings (migration 0076).
ALTER FUNCTION send_message_copies(uuid, uuid, text, text, integer[], boolean[], bytea[], timestamptz, text, float8, float8, bigint)
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION send_message_copies(uuid, uuid, text, text, integer[], boolean[], bytea[], timestamptz, text, float8, float8, bigint)
  SET enable_seqscan = off;
