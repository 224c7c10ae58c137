-- Up Migration
-- Group commit's batch looks each send's rows up per send, never a whole table (relay/BENCHMARKS.md,
-- "A batch's cost grew with the number of accounts"). send_message_batch_whole (migration 0077)
-- runs on generic plans (migration 0076), made without the batch's values and kept until the
-- statistics change. Made while the tables held a few accounts, two of its joins read whole
-- indexes for every batch; enable_seqscan = off does not forbid that, as a full index scan is no
-- sequential scan:
-- - step 1's LATERAL call of live_session: PostgreSQL inlined the function and pulled it up into
--   an ordinary join, and the plan joined every live session (a full scan of sessions_user) with
--   its user and every active device to the batch — 1.7 ms of a 2.45 ms batch of one send with
--   128 accounts;
-- - step 1's join of the recipient by username: a nested loop over the whole username index.
-- PostgreSQL does not pull up a subquery that has a LIMIT, so both become per-send look-ups
-- through their indexes. Each matches at most one row (sessions.id, users.id, devices'
-- (user_id, device_id) and users.username are keys), so LIMIT 1 changes no result.
-- relay/test/send-plans.test.ts measures the buffers a send touches as the tables grow.
CREATE OR REPLACE FUNCTION live_session(p_session uuid, p_user uuid, p_now timestamptz)
RETURNS TABLE (device_id integer)
LANGUAGE sql STABLE AS $$
  SELECT d.device_id
    FROM sessions s
    JOIN users su ON su.id = s.user_id
    LEFT JOIN devices d ON d.user_id = s.user_id AND d.device_id = s.device_id AND d.removed_at IS NULL
   WHERE s.id = p_session AND s.user_id = p_user AND s.revoked_at IS NULL
     AND s.expires_at > p_now AND su.status = 'active'
   LIMIT 1
$$;

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
        -- The recipient as well: as a plain join, a generic plan made on a few accounts read
        -- the whole username index for each send (relay/BENCHMARKS.md, "A batch's cost grew
        -- with the number of accounts").
        LEFT JOIN LATERAL (SELECT ru.id FROM users ru
                            WHERE ru.username = x.rto AND ru.status = 'active' LIMIT 1) u ON true
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

  -- 2. Tokens. The usual batch — every send from another sender, all with one bucket — takes
  -- them with one statement, rows locked in sender order; any other batch with one call per
  -- send, per sender in batch order (a statement can take one token per row). (A volatile call
  -- in a target list is evaluated after the sort, in its order: PostgreSQL postpones volatile
  -- target-list expressions past ORDER BY.)
  IF (SELECT count(DISTINCT x.sender) = count(*) AND count(DISTINCT (x.bucket, x.burst, x.rate)) = 1
        FROM unnest(p_sender, p_bucket, p_burst, p_rate) x(sender, bucket, burst, rate)) THEN
    SELECT (SELECT count(*) FROM token_buckets_take(p_user => t.senders, p_now => t.nows, p_bucket => p_bucket[1],
                                                    p_burst => p_burst[1], p_rate => p_rate[1]))
           = cardinality(p_sender)
      INTO v_ok
      FROM (SELECT array_agg(x.sender ORDER BY x.sender) AS senders, array_agg(x.now ORDER BY x.sender) AS nows
              FROM unnest(p_sender, p_now) x(sender, now)) t;
  ELSE
    SELECT bool_and(coalesce(t.taken, false)) INTO v_ok
      FROM (SELECT token_bucket_take(p_user => x.sender, p_bucket => x.bucket, p_burst => x.burst,
                                     p_rate => x.rate, p_now => x.now) AS taken
              FROM unnest(p_sender, p_bucket, p_burst, p_rate, p_now) WITH ORDINALITY x(sender, bucket, burst, rate, now, i)
             ORDER BY x.sender, x.i) t;
  END IF;
  IF v_ok IS NOT TRUE THEN
    RAISE EXCEPTION 'batch not whole' USING ERRCODE = 'SDB01';
  END IF;

  -- 3. One statement for every account's counter, in username order (bytewise).
  SELECT array_agg(g.u ORDER BY g.name COLLATE "C"), array_agg(g.n ORDER BY g.name COLLATE "C")
    INTO v_users, v_counts
    FROM (SELECT CASE WHEN p_own[k] THEN p_sender[x.i] ELSE v_rcpt[x.i] END AS u,
                 min(CASE WHEN p_own[k] THEN v_name[x.i] ELSE p_to[x.i] END) AS name, count(*) AS n
            FROM unnest(p_first, p_count) WITH ORDINALITY x(f, n, i),
                 generate_series(x.f, x.f + x.n - 1) k
           GROUP BY 1) g;
  SELECT array_agg(s.seq ORDER BY o.i) INTO v_tops
    FROM unnest(v_users) WITH ORDINALITY o(u, i)
    JOIN streams_take_seq(p_user => v_users, p_count => v_counts) s ON s.user_id = o.u;

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

-- Down Migration
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

  -- 2. Tokens. The usual batch — every send from another sender, all with one bucket — takes
  -- them with one statement, rows locked in sender order; any other batch with one call per
  -- send, per sender in batch order (a statement can take one token per row). (A volatile call
  -- in a target list is evaluated after the sort, in its order: PostgreSQL postpones volatile
  -- target-list expressions past ORDER BY.)
  IF (SELECT count(DISTINCT x.sender) = count(*) AND count(DISTINCT (x.bucket, x.burst, x.rate)) = 1
        FROM unnest(p_sender, p_bucket, p_burst, p_rate) x(sender, bucket, burst, rate)) THEN
    SELECT (SELECT count(*) FROM token_buckets_take(p_user => t.senders, p_now => t.nows, p_bucket => p_bucket[1],
                                                    p_burst => p_burst[1], p_rate => p_rate[1]))
           = cardinality(p_sender)
      INTO v_ok
      FROM (SELECT array_agg(x.sender ORDER BY x.sender) AS senders, array_agg(x.now ORDER BY x.sender) AS nows
              FROM unnest(p_sender, p_now) x(sender, now)) t;
  ELSE
    SELECT bool_and(coalesce(t.taken, false)) INTO v_ok
      FROM (SELECT token_bucket_take(p_user => x.sender, p_bucket => x.bucket, p_burst => x.burst,
                                     p_rate => x.rate, p_now => x.now) AS taken
              FROM unnest(p_sender, p_bucket, p_burst, p_rate, p_now) WITH ORDINALITY x(sender, bucket, burst, rate, now, i)
             ORDER BY x.sender, x.i) t;
  END IF;
  IF v_ok IS NOT TRUE THEN
    RAISE EXCEPTION 'batch not whole' USING ERRCODE = 'SDB01';
  END IF;

  -- 3. One statement for every account's counter, in username order (bytewise).
  SELECT array_agg(g.u ORDER BY g.name COLLATE "C"), array_agg(g.n ORDER BY g.name COLLATE "C")
    INTO v_users, v_counts
    FROM (SELECT CASE WHEN p_own[k] THEN p_sender[x.i] ELSE v_rcpt[x.i] END AS u,
                 min(CASE WHEN p_own[k] THEN v_name[x.i] ELSE p_to[x.i] END) AS name, count(*) AS n
            FROM unnest(p_first, p_count) WITH ORDINALITY x(f, n, i),
                 generate_series(x.f, x.f + x.n - 1) k
           GROUP BY 1) g;
  SELECT array_agg(s.seq ORDER BY o.i) INTO v_tops
    FROM unnest(v_users) WITH ORDINALITY o(u, i)
    JOIN streams_take_seq(p_user => v_users, p_count => v_counts) s ON s.user_id = o.u;

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
