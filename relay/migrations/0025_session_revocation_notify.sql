-- Up Migration
-- Revoking a session (POST /logout, /logout/all, refresh-token reuse) must close that user's
-- WebSockets at once in every relay process. A trigger announces it on the notifier channel
-- (src/notify/pg-notifier.ts, payload format in src/notify/notifier.ts), whatever code path
-- revoked it. NOTIFY inside that transaction is fine here: logouts are rare, unlike inserts.
CREATE FUNCTION relay_notify_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('relay_events', json_build_array(json_build_object('u', NEW.user_id::text, 'k', 'r', 's', NEW.id::text))::text);
  RETURN NULL;
END;
$$;
CREATE TRIGGER sessions_revoked_notify
  AFTER UPDATE OF revoked_at ON sessions
  FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
  EXECUTE FUNCTION relay_notify_session_revoked();

-- Down Migration
DROP TRIGGER sessions_revoked_notify ON sessions;
DROP FUNCTION relay_notify_session_revoked();
