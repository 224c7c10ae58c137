-- Up Migration
-- Token buckets and stream counters taken for many rows in one statement (relay/BENCHMARKS.md,
-- "Set-based takes"). Group commit's set-based batch (migration 0075 send_message_batch_whole)
-- called token_bucket_take once per send and stream_take_seq once per account: two executor
-- runs of an INSERT … ON CONFLICT per send, about a fifth of the batch's time in the database
-- (0.69 of 3.59 ms for ten sends, measured server-side).
-- The rules stay defined once: the single-row functions of migration 0060 are redefined on the
-- set-based ones.

-- Takes one token from bucket p_bucket (at most p_burst tokens, p_rate added per second) of
-- each user of p_user, refilled to that row's p_now, in the order of p_user (so concurrent
-- statements lock rows in the order their callers chose); returns the users whose token was
-- taken. One statement may take at most one token per user: ON CONFLICT DO UPDATE cannot affect
-- a row twice (a repeated user raises; callers with several takes for one user call it once per
-- take, in order).
CREATE FUNCTION token_buckets_take(
  p_user uuid[], p_now timestamptz[], p_bucket text, p_burst float8, p_rate float8
) RETURNS SETOF uuid
LANGUAGE sql VOLATILE AS $$
  INSERT INTO token_buckets AS b (user_id, bucket, tokens, updated_at)
  SELECT x.u, p_bucket, p_burst - 1, x.now
    FROM unnest(p_user, p_now) WITH ORDINALITY x(u, now, i)
   ORDER BY x.i
  -- EXCLUDED.updated_at is the row's p_now.
  ON CONFLICT (user_id, bucket) DO UPDATE
    SET tokens = LEAST(p_burst, b.tokens + p_rate * GREATEST(0, EXTRACT(EPOCH FROM (EXCLUDED.updated_at - b.updated_at)))) - 1,
        updated_at = GREATEST(b.updated_at, EXCLUDED.updated_at)
    WHERE LEAST(p_burst, b.tokens + p_rate * GREATEST(0, EXTRACT(EPOCH FROM (EXCLUDED.updated_at - b.updated_at)))) >= 1
  RETURNING b.user_id
$$;

-- Migration 0060's single take, on the set-based one.
CREATE OR REPLACE FUNCTION token_bucket_take(
  p_user uuid, p_bucket text, p_burst float8, p_rate float8, p_now timestamptz
) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
  SELECT EXISTS (SELECT 1 FROM token_buckets_take(p_user => ARRAY[p_user], p_now => ARRAY[p_now],
                                                  p_bucket => p_bucket, p_burst => p_burst, p_rate => p_rate))
$$;

-- Takes the next p_count[k] numbers of user p_user[k]'s stream, for every k, in the order of
-- p_user; returns each user with the last number taken (its block is last - count + 1 .. last).
-- The counter rows stay locked until the caller's transaction commits (migration 0060). Each
-- user at most once.
CREATE FUNCTION streams_take_seq(p_user uuid[], p_count bigint[])
RETURNS TABLE (user_id uuid, seq bigint)
LANGUAGE sql VOLATILE AS $$
  INSERT INTO user_streams AS us (user_id, seq)
  SELECT x.u, x.n FROM unnest(p_user, p_count) WITH ORDINALITY x(u, n, i) ORDER BY x.i
  ON CONFLICT (user_id) DO UPDATE SET seq = us.seq + EXCLUDED.seq
  RETURNING us.user_id, us.seq
$$;

CREATE OR REPLACE FUNCTION stream_take_seq(p_user uuid, p_count bigint DEFAULT 1) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
  SELECT s.seq FROM streams_take_seq(p_user => ARRAY[p_user], p_count => ARRAY[p_count]) s
$$;

-- Group commit's set-based batch (migration 0075) on them: steps 2 and 3 below; the rest as in
-- migration 0075, whose comment describes every step.
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
CREATE OR REPLACE FUNCTION stream_take_seq(p_user uuid, p_count bigint DEFAULT 1) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
  INSERT INTO user_streams AS us (user_id, seq) VALUES (p_user, p_count)
  ON CONFLICT (user_id) DO UPDATE SET seq = us.seq + EXCLUDED.seq
  RETURNING us.seq
$$;
DROP FUNCTION streams_take_seq(uuid[], bigint[]);
CREATE OR REPLACE FUNCTION token_bucket_take(
  p_user uuid, p_bucket text, p_burst float8, p_rate float8, p_now timestamptz
) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
  WITH taken AS (
    INSERT INTO token_buckets AS b (user_id, bucket, tokens, updated_at)
    VALUES (p_user, p_bucket, p_burst - 1, p_now)
    ON CONFLICT (user_id, bucket) DO UPDATE
      SET tokens = LEAST(p_burst, b.tokens + p_rate * GREATEST(0, EXTRACT(EPOCH FROM (p_now - b.updated_at)))) - 1,
          updated_at = GREATEST(b.updated_at, p_now)
      WHERE LEAST(p_burst, b.tokens + p_rate * GREATEST(0, EXTRACT(EPOCH FROM (p_now - b.updated_at)))) >= 1
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM taken)
$$;
DROP FUNCTION token_buckets_take(uuid[], timestamptz[], text, float8, float8);
