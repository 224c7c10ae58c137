// The session check behind every authenticated request (spec/openapi.yaml POST /logout: the
// access JWT's session id is checked on every request, so logout and logout-all take effect at once).
// One SQL function, session_is_live (migration 0060), used two ways: as its own query
// (requireAuth, the WebSocket), and inside the statement of POST /send_message
// (src/messages/store.ts), where it saves a round trip per message while still reading the
// sessions table in the same snapshot as the insert.
import type { Queryable } from '../db/pool.js';

// A named (prepared) statement: parsed and planned once per connection, not per request.
const LIVE = {
  name: 'auth_session_live',
  text: 'SELECT session_is_live(p_session => $1, p_user => $2, p_now => $3) AS live',
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
