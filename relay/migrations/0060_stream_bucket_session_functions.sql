-- Up Migration
-- The three invariants that several statements share, each defined once here and called with
-- named arguments (fn(p_user => $1, ...)), so a statement that needs them stays one statement
-- and one round trip (POST /send_message: session check, token, stream seq and insert).

-- A user's stream (migration 0020): takes the next p_count numbers of p_user's stream and
-- returns the last one taken (the block is last - p_count + 1 .. last). The counter row stays
-- locked until the caller's transaction commits, which keeps a user's rows committing in seq
-- order. A caller taking numbers of several users calls this in user id order, so two
-- statements always lock counters in the same order and cannot deadlock.
CREATE FUNCTION stream_take_seq(p_user uuid, p_count bigint DEFAULT 1) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
  INSERT INTO user_streams AS us (user_id, seq) VALUES (p_user, p_count)
  ON CONFLICT (user_id) DO UPDATE SET seq = us.seq + EXCLUDED.seq
  RETURNING us.seq
$$;

-- Token buckets (table token_buckets, migration 0020): refills p_user's bucket p_bucket
-- (at most p_burst tokens, p_rate added per second) to p_now and takes one token; true when a
-- token was taken. The row lock taken by ON CONFLICT … DO UPDATE serialises concurrent takes
-- for one user, so a burst can never be overspent.
CREATE FUNCTION token_bucket_take(
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

-- The session check behind every authenticated request (spec/openapi.yaml POST /logout: the
-- access JWT's session id is checked on every request, so logout and logout-all take effect at
-- once): session p_session of user p_user is live at p_now and the user is active. STABLE, so
-- it reads the calling statement's snapshot: a logout committed before that statement began
-- is seen, the same as a separate query before it.
CREATE FUNCTION session_is_live(p_session uuid, p_user uuid, p_now timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM sessions s JOIN users su ON su.id = s.user_id
     WHERE s.id = p_session AND s.user_id = p_user AND s.revoked_at IS NULL
       AND s.expires_at > p_now AND su.status = 'active')
$$;

-- Down Migration
DROP FUNCTION session_is_live(uuid, uuid, timestamptz);
DROP FUNCTION token_bucket_take(uuid, text, float8, float8, timestamptz);
DROP FUNCTION stream_take_seq(uuid, bigint);
