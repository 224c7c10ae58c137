-- Up Migration
-- The mailbox cap (spec/openapi.yaml POST /send_message, 409 mailbox_full) cost every send a count
-- of the recipient device's pending copies: migration 0071 wrote the cheap bound and the exact
-- count as two conditions of one WHERE, and PostgreSQL orders the conditions of a WHERE by its own
-- cost estimates, not as written — it ran the count first (EXPLAIN ANALYZE: an index scan of every
-- pending copy, up to the cap of 10,000, on every send to a device that is offline). A CASE
-- evaluates its branches in order and only the one taken (PostgreSQL documentation, "Conditional
-- Expressions"), so the rule is now one function whose count runs only when the bound says the
-- mailbox might be full (figures: relay/BENCHMARKS.md, "The mailbox cap and set-based batches").
-- The published-device rule (written twice before: in migration 0071 and in src/devices/store.ts)
-- and the session check with the session's device are functions too, which the set-based batch
-- (migration 0075) also calls. Each is a table function, which the planner inlines where it is
-- called in FROM (a scalar SQL function with subqueries is called instead: tens of µs a call).

-- Whether p_user's device p_device holds fewer than p_cap unacknowledged copies. The bound: a
-- device's pending copies all have seqs between its oldest pending copy and its account's stream
-- head, so head + 1 - oldest < p_cap proves room with two index look-ups; only when old copies
-- are still held (the range is wider than what is held) does the exact count, bounded by p_cap,
-- decide. One row.
CREATE OR REPLACE FUNCTION mailbox_room(p_user uuid, p_device integer, p_cap bigint)
RETURNS TABLE (has_room boolean)
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN COALESCE((SELECT us.seq + 1 - f.seq
                     FROM user_streams us,
                          LATERAL (SELECT p.seq FROM messages p
                                    WHERE p.receiver_id = p_user AND p.receiver_device_id = p_device
                                    ORDER BY p.seq LIMIT 1) f
                    WHERE us.user_id = p_user), 0) < p_cap THEN true
    ELSE (SELECT count(*) FROM (SELECT 1 FROM messages p
                                 WHERE p.receiver_id = p_user AND p.receiver_device_id = p_device
                                 LIMIT p_cap) c) < p_cap
  END
$$;

-- The devices a send must address in p_user's account: active, with a complete bundle (identity
-- key and both signed prekeys) — the device_ids of GET /identity/{username} and the devices GET
-- /keys/{username} returns (src/devices/store.ts), so a client can always complete a send by
-- fetching bundles (spec/protocol.md §16.3).
CREATE OR REPLACE FUNCTION published_device_ids(p_user uuid) RETURNS TABLE (device_id integer)
LANGUAGE sql STABLE AS $$
  SELECT d.device_id
    FROM devices d
   WHERE d.user_id = p_user AND d.removed_at IS NULL
     AND EXISTS (SELECT 1 FROM identity_keys i WHERE i.user_id = d.user_id)
     AND EXISTS (SELECT 1 FROM signed_prekeys k
                  WHERE k.user_id = d.user_id AND k.device_id = d.device_id AND k.kind = 'x25519')
     AND EXISTS (SELECT 1 FROM signed_prekeys k
                  WHERE k.user_id = d.user_id AND k.device_id = d.device_id AND k.kind = 'mlkem768')
$$;
-- The same, as an array in device id order.
CREATE OR REPLACE FUNCTION published_devices(p_user uuid) RETURNS integer[]
LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(p.device_id ORDER BY p.device_id), '{}') FROM published_device_ids(p_user => p_user) p
$$;

-- The session check (migration 0060 session_is_live: session p_session of user p_user is live at
-- p_now and the user is active) as a row holding the active device the session is bound to, NULL
-- for a device-less session or a removed device (spec/protocol.md §16.1); no row when the
-- session is not live. session_is_live is redefined on it, so the rule stays in one place.
CREATE OR REPLACE FUNCTION live_session(p_session uuid, p_user uuid, p_now timestamptz)
RETURNS TABLE (device_id integer)
LANGUAGE sql STABLE AS $$
  SELECT d.device_id
    FROM sessions s
    JOIN users su ON su.id = s.user_id
    LEFT JOIN devices d ON d.user_id = s.user_id AND d.device_id = s.device_id AND d.removed_at IS NULL
   WHERE s.id = p_session AND s.user_id = p_user AND s.revoked_at IS NULL
     AND s.expires_at > p_now AND su.status = 'active'
$$;
CREATE OR REPLACE FUNCTION session_is_live(p_session uuid, p_user uuid, p_now timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM live_session(p_session => p_session, p_user => p_user, p_now => p_now))
$$;

-- send_message_copies of migration 0071 (its comment there describes every step), steps 1, 6 and
-- 7 now calling live_session, published_device_ids and mailbox_room.
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

-- Down Migration
-- Nothing: these functions give the same answers as the statements of migration 0071 they
-- replace, and src/devices/store.ts calls published_devices, so they are kept (0071's schema is
-- unchanged); the Up section can run again over them.
