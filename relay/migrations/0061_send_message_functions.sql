-- Up Migration
-- Storing a sent message (spec/openapi.yaml POST /send_message, GET /ws "send" frames), defined
-- once here for a single send and for a group-committed batch (relay/BENCHMARKS.md, "group
-- commit"): a batch is one statement, so one database round trip and one commit whatever its
-- number of rows, instead of BEGIN, a statement per row and COMMIT.

-- One send: check the sender's session, take a token from its bucket, resolve the recipient
-- (unless its mailbox already holds p_cap unacknowledged messages), take the next seq of its
-- stream and insert. Returns one row: the stored message, or NULLs when nothing was stored,
-- with whether the session was live and whether a token was taken, as this statement saw them
-- (a batch's later rows may spend the tokens, so they cannot be read back afterwards); the
-- other reasons (a known client_id, a full mailbox, no such recipient, a block) the caller
-- finds with separate queries, the rare path (src/messages/store.ts).
-- The session is checked first: a dead session takes no token (CASE evaluates its branches in
-- order). Nothing past the bucket happens without a token: tb is the outer side of r's join,
-- read before any recipient lookup (the LATERAL reference and OFFSET 0 keep the planner from
-- reordering them), so a send to anyone, existing or not, takes its token exactly once.
-- The mailbox check is O(1) in the usual case: every unacknowledged message has a seq between
-- the oldest one still held and the stream's last seq, so (last seq + 1 - oldest seq) bounds
-- their number from above; only at or above the cap are the messages counted exactly (on the
-- (receiver_id, seq) index, stopped at the cap). Counting every time cost a scan of the whole
-- mailbox per send (relay/BENCHMARKS.md).
-- A retry with a known client_id hits ON CONFLICT and inserts nothing (the seq taken is a
-- harmless gap). Lock order is always bucket (sender) then stream (receiver).
CREATE FUNCTION send_message_row(
  p_sender uuid, p_session uuid, p_to text, p_client text, p_body bytea, p_now timestamptz,
  p_bucket text, p_burst float8, p_rate float8, p_cap bigint
) RETURNS TABLE (
  id bigint, seq bigint, receiver_id uuid, created_at timestamptz, sender text,
  session_live boolean, token_taken boolean
)
LANGUAGE sql VOLATILE AS $$
  WITH tb AS (
    SELECT live, CASE WHEN live
                      THEN token_bucket_take(p_user => p_sender, p_bucket => p_bucket, p_burst => p_burst,
                                             p_rate => p_rate, p_now => p_now)
                      ELSE false END AS ok
      FROM (SELECT session_is_live(p_session => p_session, p_user => p_sender, p_now => p_now) AS live) l
  ),
  r AS (
    SELECT rc.id FROM tb, LATERAL (
      SELECT u.id FROM users u
       WHERE tb.ok AND u.username = p_to AND u.status = 'active'
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = u.id AND b.blocked_id = p_sender)
         AND (COALESCE((SELECT us.seq + 1 - o.seq FROM user_streams us,
                              LATERAL (SELECT p.seq FROM messages p WHERE p.receiver_id = u.id ORDER BY p.seq LIMIT 1) o
                        WHERE us.user_id = u.id), 0) < p_cap
              OR (SELECT count(*) FROM (SELECT 1 FROM messages p WHERE p.receiver_id = u.id LIMIT p_cap) x) < p_cap)
      OFFSET 0
    ) rc
  ),
  s AS (SELECT r.id AS user_id, stream_take_seq(p_user => r.id) AS seq FROM r),
  ins AS (
    INSERT INTO messages AS m (sender_id, receiver_id, client_id, seq, message_encrypted, created_at)
    SELECT p_sender, s.user_id, p_client, s.seq, p_body, p_now FROM s
    ON CONFLICT (sender_id, client_id) DO NOTHING
    RETURNING m.id, m.seq, m.receiver_id, m.created_at
  )
  SELECT ins.id, ins.seq, ins.receiver_id, ins.created_at,
         CASE WHEN ins.id IS NOT NULL THEN (SELECT su.username FROM users su WHERE su.id = p_sender) END,
         tb.live, tb.ok
    FROM tb LEFT JOIN ins ON true
$$;

-- A batch: the sends of the arrays (all the same length, element i is one send), each stored by
-- send_message_row in array order, each statement seeing the rows stored before it (a full
-- mailbox, a spent bucket, a client_id used earlier in the batch), exactly as the same
-- statements run one after another in one transaction. Returns send_message_row's row for
-- each send with its 1-based index into the arrays. The caller
-- orders the rows by recipient so concurrent batches take the stream counters in the same
-- order (src/messages/group-commit.ts). Any error aborts the whole statement: nothing of the
-- batch is stored, and the caller reruns each send alone.
CREATE FUNCTION send_message_rows(
  p_sender uuid[], p_session uuid[], p_to text[], p_client text[], p_body bytea[],
  p_now timestamptz[], p_bucket text[], p_burst float8[], p_rate float8[], p_cap bigint[]
) RETURNS TABLE (
  ord integer, id bigint, seq bigint, receiver_id uuid, created_at timestamptz, sender text,
  session_live boolean, token_taken boolean
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
  FOR i IN 1 .. coalesce(cardinality(p_sender), 0) LOOP
    RETURN QUERY
      SELECT i, x.id, x.seq, x.receiver_id, x.created_at, x.sender, x.session_live, x.token_taken
        FROM send_message_row(p_sender => p_sender[i], p_session => p_session[i], p_to => p_to[i],
                              p_client => p_client[i], p_body => p_body[i], p_now => p_now[i],
                              p_bucket => p_bucket[i], p_burst => p_burst[i], p_rate => p_rate[i],
                              p_cap => p_cap[i]) x;
  END LOOP;
END
$$;

-- Down Migration
DROP FUNCTION send_message_rows(uuid[], uuid[], text[], text[], bytea[], timestamptz[], text[], float8[], float8[], bigint[]);
DROP FUNCTION send_message_row(uuid, uuid, text, text, bytea, timestamptz, text, float8, float8, bigint);
