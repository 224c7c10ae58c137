-- Up Migration
-- Group commit's statement, set-based (relay/BENCHMARKS.md, "The mailbox cap and set-based
-- batches"). Migration 0071's send_message_batch runs send_message_copies once per send: about a
-- dozen statements each, all in the one PostgreSQL backend that runs the batch — 0.5 ms of its CPU
-- per send, which capped one send in flight per sender at a fifth of the raw INSERT rate. The
-- usual batch is sends that are all stored; send_message_batch_whole stores such a batch with one
-- statement per step for the whole batch, and the exact per-send loop stays for every batch in
-- which anything is refused.
--
-- send_message_batch_whole: the batch's sends, each stored exactly as send_message_copies would
-- store it one after another in the batch's order (same checks, same order of locks per row,
-- same seqs), provided EVERY send is stored; otherwise it raises SQLSTATE SDB01 (the caller
-- rolls back to before it). Steps, each over the whole batch:
--   1. every session live and bound to an active device; every recipient an active account,
--      not the sender, not blocking it; every send with a recipient copy; no client_id stored
--      or used twice in the batch;
--   2. a token of each send's bucket, taken per sender in batch order (rows locked in sender
--      order);
--   3. the stream counters of every account that gets copies, each taken once for all its
--      copies, in username order, bytewise (the order the per-send loop takes recipients'
--      counters in: src/messages/group-commit.ts sorts a batch by recipient, as JavaScript
--      compares strings);
--   4. after the counters, as in send_message_copies: each send addresses exactly the published
--      devices of both accounts, and every mailbox has room for all its copies in the batch;
--   5. the copies inserted, numbered per stream in batch order, then device order — the seqs the
--      loop would give — with ON CONFLICT DO NOTHING on every unique index: a send stored
--      meanwhile by another process makes the batch raise (the loop answers it as known).
-- Rows as send_message_batch.
CREATE OR REPLACE FUNCTION send_message_batch_whole(
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
DECLARE
  v_ok boolean;
  v_dev integer[];
  v_rcpt uuid[];
  v_name text[];
  v_users uuid[];
  v_tops bigint[];
  v_counts bigint[];
  v_copies integer := coalesce(cardinality(p_device), 0);
  v_rows integer;
BEGIN
  -- 1.
  -- (bool_and skips NULLs: each condition is coalesced to false, so an unknown is a refusal.)
  SELECT bool_and(coalesce(s.live AND s.dev IS NOT NULL AND s.rcpt IS NOT NULL AND s.rcpt <> s.sender
                           AND NOT s.blocked AND NOT s.known AND s.uses = 1 AND s.recipient_copies > 0,
                           false)),
         array_agg(s.dev ORDER BY s.i), array_agg(s.rcpt ORDER BY s.i), array_agg(s.name ORDER BY s.i)
    INTO v_ok, v_dev, v_rcpt, v_name
    FROM (
      SELECT x.i, x.sender, ls.live IS NOT NULL AS live, ls.device_id AS dev,
             u.id AS rcpt, bl.hit IS NOT NULL AS blocked, kn.hit IS NOT NULL AS known,
             (SELECT su.username FROM users su WHERE su.id = x.sender) AS name,
             count(*) OVER (PARTITION BY x.sender, x.client) AS uses,
             (SELECT count(*) FROM generate_series(x.f, x.f + x.n - 1) k WHERE NOT p_own[k]) AS recipient_copies
        FROM unnest(p_sender, p_session, p_to, p_client, p_now, p_first, p_count)
               WITH ORDINALITY x(sender, session, rto, client, now, f, n, i)
        LEFT JOIN LATERAL (SELECT true AS live, l.device_id
                             FROM live_session(p_session => x.session, p_user => x.sender, p_now => x.now) l) ls
               ON true
        LEFT JOIN users u ON u.username = x.rto AND u.status = 'active'
        -- Look-ups per send through the indexes (LATERAL … LIMIT 1): as EXISTS in a target list
        -- the planner may hash the whole table instead when its statistics are stale.
        LEFT JOIN LATERAL (SELECT 1 AS hit FROM blocks b
                            WHERE b.user_id = u.id AND b.blocked_id = x.sender LIMIT 1) bl ON true
        LEFT JOIN LATERAL (SELECT 1 AS hit FROM messages m
                            WHERE m.sender_id = x.sender AND m.client_id = x.client LIMIT 1) kn ON true
    ) s;
  IF v_ok IS NOT TRUE THEN
    RAISE EXCEPTION 'batch not whole' USING ERRCODE = 'SDB01';
  END IF;

  -- 2. The volatile call is evaluated after the sort, in its order (PostgreSQL postpones
  -- volatile target-list expressions past ORDER BY).
  SELECT bool_and(coalesce(t.taken, false)) INTO v_ok
    FROM (SELECT token_bucket_take(p_user => x.sender, p_bucket => x.bucket, p_burst => x.burst,
                                   p_rate => x.rate, p_now => x.now) AS taken
            FROM unnest(p_sender, p_bucket, p_burst, p_rate, p_now) WITH ORDINALITY x(sender, bucket, burst, rate, now, i)
           ORDER BY x.sender, x.i) t;
  IF v_ok IS NOT TRUE THEN
    RAISE EXCEPTION 'batch not whole' USING ERRCODE = 'SDB01';
  END IF;

  -- 3.
  SELECT array_agg(t.u), array_agg(t.top), array_agg(t.n)
    INTO v_users, v_tops, v_counts
    FROM (SELECT g.u, g.name, g.n, stream_take_seq(p_user => g.u, p_count => g.n) AS top
            FROM (SELECT CASE WHEN p_own[k] THEN p_sender[x.i] ELSE v_rcpt[x.i] END AS u,
                         min(CASE WHEN p_own[k] THEN v_name[x.i] ELSE p_to[x.i] END) AS name, count(*) AS n
                    FROM unnest(p_first, p_count) WITH ORDINALITY x(f, n, i),
                         generate_series(x.f, x.f + x.n - 1) k
                   GROUP BY 1) g
           ORDER BY g.name COLLATE "C") t;

  -- 4.
  WITH c AS (
    SELECT x.i, p_device[k] AS d, p_own[k] AS o,
           CASE WHEN p_own[k] THEN p_sender[x.i] ELSE v_rcpt[x.i] END AS u
      FROM unnest(p_first, p_count) WITH ORDINALITY x(f, n, i), generate_series(x.f, x.f + x.n - 1) k
  ),
  pub AS (
    -- Every account of the batch, senders included: a sender's other devices must get sync
    -- copies even when the send carries none.
    SELECT a.u, coalesce(array_agg(p.device_id ORDER BY p.device_id) FILTER (WHERE p.device_id IS NOT NULL),
                         '{}') AS devices
      FROM (SELECT c.u FROM c UNION SELECT unnest(p_sender)) a
      LEFT JOIN LATERAL published_device_ids(p_user => a.u) p ON true
     GROUP BY a.u
  ),
  sent AS (
    SELECT c.i, coalesce(array_agg(c.d ORDER BY c.d) FILTER (WHERE NOT c.o), '{}') AS r,
           coalesce(array_agg(c.d ORDER BY c.d) FILTER (WHERE c.o), '{}') AS o
      FROM c GROUP BY c.i
  ),
  room AS (
    -- The j-th copy in the batch for a device finds j - 1 of them already held: it fits while
    -- held + j - 1 < its send's cap, for every j, that is held < min(cap - j + 1).
    SELECT r.u, r.d, min(r.cap - r.j + 1) AS need
      FROM (SELECT c.u, c.d, p_cap[c.i] AS cap, row_number() OVER (PARTITION BY c.u, c.d ORDER BY c.i) AS j
              FROM c) r
     GROUP BY r.u, r.d
  )
  SELECT (SELECT bool_and(coalesce(
                    sent.r = coalesce((SELECT pub.devices FROM pub WHERE pub.u = v_rcpt[sent.i]), '{}')
                    AND sent.o = array_remove(coalesce((SELECT pub.devices FROM pub
                                                         WHERE pub.u = p_sender[sent.i]), '{}'),
                                              v_dev[sent.i])
                    AND array_position(sent.r || sent.o, NULL) IS NULL,
                    false))
            FROM sent)
     AND (SELECT bool_and(coalesce(r.has_room, false))
            FROM room, LATERAL mailbox_room(p_user => room.u, p_device => room.d, p_cap => GREATEST(room.need, 0)) r)
    INTO v_ok;
  IF v_ok IS NOT TRUE THEN
    RAISE EXCEPTION 'batch not whole' USING ERRCODE = 'SDB01';
  END IF;

  -- 5.
  RETURN QUERY
    WITH c AS (
      SELECT x.i, p_device[k] AS d, p_own[k] AS o, p_body[k] AS b, st.u,
             st.top - st.n + row_number() OVER (PARTITION BY st.u ORDER BY x.i, p_device[k]) AS s,
             NOT p_own[k] AND p_device[k] = min(p_device[k]) FILTER (WHERE NOT p_own[k])
                                             OVER (PARTITION BY x.i) AS first
        FROM unnest(p_first, p_count) WITH ORDINALITY x(f, n, i),
             generate_series(x.f, x.f + x.n - 1) k,
             LATERAL (SELECT v.u, v.top, v.n FROM unnest(v_users, v_tops, v_counts) v(u, top, n)
                       WHERE v.u = CASE WHEN p_own[k] THEN p_sender[x.i] ELSE v_rcpt[x.i] END) st
    ),
    ins AS (
      INSERT INTO messages AS m (sender_id, receiver_id, client_id, seq, message_encrypted, created_at,
                                 acked_at, receiver_device_id, sender_device_id, own, first_copy)
      SELECT p_sender[c.i], c.u, p_client[c.i], c.s, c.b, p_now[c.i], NULL, c.d, v_dev[c.i], c.o, c.first
        FROM c ORDER BY c.i, c.o, c.d
      -- No conflict target: a copy that conflicts on ANY unique index is skipped, not an error.
      -- A send stored meanwhile by another process (same client_id, committed while this batch
      -- waited on its token bucket) conflicts on messages_send with its first copy and on
      -- messages_copy with every other one; the rows returned then fall short and the batch
      -- raises SDB01 (the loop answers the send as known) instead of failing with 23505.
      ON CONFLICT DO NOTHING
      RETURNING m.id, m.sender_id, m.client_id, m.own, m.receiver_device_id
    )
    SELECT c.i::integer, NULL::text, c.d, c.o, ins.id, c.s, c.u, p_now[c.i], v_name[c.i], v_dev[c.i],
           NULL::integer[], NULL::integer[]
      FROM c JOIN ins ON ins.sender_id = p_sender[c.i] AND ins.client_id = p_client[c.i]
                     AND ins.own = c.o AND ins.receiver_device_id = c.d
     ORDER BY c.i, c.o, c.d;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  IF v_rows <> v_copies THEN
    RAISE EXCEPTION 'batch not whole' USING ERRCODE = 'SDB01';
  END IF;
END
$$;

-- Migration 0071's send_message_batch, the per-send loop, kept as it is under a new name.
ALTER FUNCTION send_message_batch(uuid[], uuid[], text[], text[], integer[], integer[], integer[], boolean[], bytea[], timestamptz[], text[], float8[], float8[], bigint[]) RENAME TO send_message_batch_each;

-- The batch statement of group commit (src/messages/store.ts insertMessages): the set-based
-- path when every send is stored, else — rolled back to before it, counters, tokens and all —
-- the per-send loop, which decides each send exactly. A set-returning PL/pgSQL function hands
-- back its rows only when it has finished, so a batch that raises adds none.
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
BEGIN
  BEGIN
    RETURN QUERY SELECT * FROM send_message_batch_whole(
        p_sender => p_sender, p_session => p_session, p_to => p_to, p_client => p_client,
        p_first => p_first, p_count => p_count, p_device => p_device, p_own => p_own, p_body => p_body,
        p_now => p_now, p_bucket => p_bucket, p_burst => p_burst, p_rate => p_rate, p_cap => p_cap);
    RETURN;
  EXCEPTION WHEN SQLSTATE 'SDB01' THEN
    NULL; -- not every send is stored: the loop decides each
  END;
  RETURN QUERY SELECT * FROM send_message_batch_each(
        p_sender => p_sender, p_session => p_session, p_to => p_to, p_client => p_client,
        p_first => p_first, p_count => p_count, p_device => p_device, p_own => p_own, p_body => p_body,
        p_now => p_now, p_bucket => p_bucket, p_burst => p_burst, p_rate => p_rate, p_cap => p_cap);
END
$$;

-- Down Migration
DROP FUNCTION send_message_batch(uuid[], uuid[], text[], text[], integer[], integer[], integer[], boolean[], bytea[], timestamptz[], text[], float8[], float8[], bigint[]);
ALTER FUNCTION send_message_batch_each(uuid[], uuid[], text[], text[], integer[], integer[], integer[], boolean[], bytea[], timestamptz[], text[], float8[], float8[], bigint[]) RENAME TO send_message_batch;
DROP FUNCTION send_message_batch_whole(uuid[], uuid[], text[], text[], integer[], integer[], integer[], boolean[], bytea[], timestamptz[], text[], float8[], float8[], bigint[]);
