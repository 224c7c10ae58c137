// The session check behind every authenticated request (spec/openapi.yaml POST /logout: the
// access JWT's session id is checked on every request, so logout and logout-all take effect at once).
// One SQL function, session_is_live (migration 0060), used two ways: as its own query
// (requireAuth, the WebSocket), and inside the statement of POST /send_message
// (src/messages/store.ts), where it saves a round trip per message while still reading the
// sessions table in the same snapshot as the insert.
// The same query also reads the device the session is bound to (migration 0070, spec/protocol.md
// §16): a session bound to a device is revoked in the transaction that removes the device, so a
// live session's device is always an active one.
import type { Queryable } from '../db/pool.js';

// A named (prepared) statement: parsed and planned once per connection, not per request.
const LIVE = {
  name: 'auth_session_live_device',
  text: `SELECT session_is_live(p_session => $1, p_user => $2, p_now => $3) AS live,
                (SELECT device_id FROM sessions WHERE id = $1) AS device_id`,
};

/** The live session's device (null: device-less), or undefined when the session is not live. */
export async function liveSessionDevice(
  db: Queryable,
  userId: string,
  sessionId: string,
  now: Date,
): Promise<{ deviceId: number | null } | undefined> {
  const r = await db.query<{ live: boolean; device_id: number | null }>({
    ...LIVE,
    values: [sessionId, userId, now],
  });
  const row = r.rows[0];
  return row?.live === true ? { deviceId: row.device_id } : undefined;
}

export async function sessionIsLive(
  db: Queryable,
  userId: string,
  sessionId: string,
  now: Date,
): Promise<boolean> {
  return (await liveSessionDevice(db, userId, sessionId, now)) !== undefined;
}
