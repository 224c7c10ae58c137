// The session check behind every authenticated request (spec/openapi.yaml POST /logout: the
// access JWT's session id is checked on every request, so logout and logout-all take effect at once).
// One SQL condition, used two ways: as its own query (requireAuth, the WebSocket), and folded
// into the statement of POST /send_message (src/messages/store.ts), where it saves a round trip
// per message while still reading the sessions table in the same snapshot as the insert.
import type { Queryable } from '../db/pool.js';

/**
 * SQL condition: the session `$sid` of user `$user` is live at `$now` and the user is active.
 * Parameter positions are the caller's.
 */
export function sessionLiveSql(p: { sid: number; user: number; now: number }): string {
  return `EXISTS (SELECT 1 FROM sessions s JOIN users su ON su.id = s.user_id
   WHERE s.id = $${p.sid}::uuid AND s.user_id = $${p.user}::uuid AND s.revoked_at IS NULL
     AND s.expires_at > $${p.now}::timestamptz AND su.status = 'active')`;
}

// A named (prepared) statement: parsed and planned once per connection, not per request.
const LIVE = {
  name: 'auth_session_live',
  text: `SELECT ${sessionLiveSql({ sid: 1, user: 2, now: 3 })} AS live`,
};

export async function sessionIsLive(
  db: Queryable,
  userId: string,
  sessionId: string,
  now: Date,
): Promise<boolean> {
  const r = await db.query<{ live: boolean }>({ ...LIVE, values: [sessionId, userId, now] });
  return r.rows[0]?.live === true;
}
