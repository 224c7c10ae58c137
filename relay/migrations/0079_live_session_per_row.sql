-- Up Migration
-- The session check looked up per send, never for every session (relay/BENCHMARKS.md, "A batch's
-- cost grew with the number of accounts"). Group commit's batch (migration 0077,
-- send_message_batch_whole step 1) joins each send to live_session through a LATERAL call.
-- PostgreSQL inlines the function and pulls the subquery up into an ordinary join, and the
-- generic plan, made without the batch's values, joined the whole set of live sessions (with
-- their users and devices) to the batch: a full scan of the partial index sessions_user, which
-- enable_seqscan = off does not forbid. It cost 1.7 ms of a batch's 2.3 ms with 128 accounts and
-- grew with every account (relay/test/send-plans.test.ts measures the buffers a send touches).
-- A subquery with a LIMIT is not pulled up: the call stays a per-row look-up by the session's
-- primary key. At most one row matches (s.id is the key), so LIMIT 1 changes no result.
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

-- Down Migration
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
