// POST /send_message and POST /ack against their WebSocket frames (spec/openapi.yaml GET /ws,
// spec/ws-frames.schema.json): one table of cases — validation errors, size limits,
// idempotency by client_id, the rate limit — run over both paths, which must give the same
// status, error code and result; and the rate limit is ONE bucket whichever path spends it.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import {
  b64,
  type DataUser,
  type Frame,
  linkDevice,
  makeDeviceUser,
  newSession,
  sendBody,
  WsClient,
} from './helpers/relay-data.js';

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({
    databaseUrl: db.url,
    env: { SEND_RATE_BURST: '1000', MAX_MESSAGE_BYTES: '1024', MAX_PENDING_MESSAGES: '10' },
  });
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

interface Answer {
  status: number;
  body: Frame;
}

/** One way of calling a route: over HTTP, or as a request frame on an authenticated socket. */
interface Path {
  name: string;
  send(app: TestApp, from: DataUser, message: unknown): Promise<Answer>;
  ack(app: TestApp, user: DataUser, ack: unknown): Promise<Answer>;
}

const http: Path = {
  name: 'HTTP',
  send: async (app, from, message) => {
    const r = await app.api.post('/send_message', message, { token: from.token });
    return { status: r.status, body: r.body };
  },
  ack: async (app, user, ack) => {
    const r = await app.api.post('/ack', ack, { token: user.token });
    return { status: r.status, body: r.body };
  },
};

const sockets = new Map<string, WsClient>();
let frameId = 0;
async function socketOf(app: TestApp, user: DataUser): Promise<WsClient> {
  const key = `${app.baseUrl} ${user.sessionId}`;
  let ws = sockets.get(key);
  if (!ws) {
    ws = await WsClient.connect(app.baseUrl, user.token);
    sockets.set(key, ws);
  }
  return ws;
}
async function wsRequest(app: TestApp, user: DataUser, frame: Record<string, unknown>): Promise<Answer> {
  const ws = await socketOf(app, user);
  const id = ++frameId;
  ws.send({ ...frame, id });
  const r = await ws.next((f) => f.type === 'response' && f.id === id);
  return { status: r.status, body: r.body };
}
const socket: Path = {
  name: 'WebSocket',
  send: (app, from, message) => wsRequest(app, from, { type: 'send', message }),
  ack: (app, user, ack) => wsRequest(app, user, { type: 'ack', ack }),
};

interface Case {
  name: string;
  /** Runs the case over `path`; returns the answers to compare (status + error or fields). */
  run(path: Path): Promise<unknown>;
  expected: unknown;
}

const shape = (a: Answer) =>
  a.status >= 400
    ? { status: a.status, error: a.body.error, retry: a.body.retry_after_seconds }
    : { status: a.status, duplicate: a.body.duplicate, acked: a.body.acked };

/** A send to `to`'s device 1; `extra` replaces top-level fields, or (`body`) the copy's body. */
const msg = (to: DataUser, extra: Record<string, unknown> = {}) => {
  const { body, ...rest } = extra;
  const m = sendBody(to.username, { body: b64(16) });
  return { ...m, ...(body === undefined ? {} : { messages: [{ device_id: 1, body }] }), ...rest };
};

const cases: Case[] = [
  {
    name: 'a good send',
    run: async (p) => shape(await p.send(t, await makeDeviceUser(t), msg(await makeDeviceUser(t)))),
    expected: { status: 201, duplicate: false },
  },
  ...(
    [
      ['missing to', () => ({ client_id: 'a', messages: [{ device_id: 1, body: b64(4) }] })],
      ['the old one-body form', (to: DataUser) => ({ to: to.username, client_id: 'a', body: b64(4) })],
      ['no copies', (to: DataUser) => msg(to, { messages: [] })],
      [
        'two copies for one device',
        (to: DataUser) => msg(to, { messages: [1, 1].map((device_id) => ({ device_id, body: b64(4) })) }),
      ],
      [
        'two sync copies for one device',
        (to: DataUser) => msg(to, { own: [2, 2].map((device_id) => ({ device_id, body: b64(4) })) }),
      ],
      [
        'more copies than DEVICE_LIMIT',
        (to: DataUser) =>
          msg(to, { messages: [1, 2, 3, 4, 5, 6].map((device_id) => ({ device_id, body: b64(4) })) }),
      ],
      ['a device id 0', (to: DataUser) => msg(to, { messages: [{ device_id: 0, body: b64(4) }] })],
      [
        'a device id past 2^31 - 1',
        (to: DataUser) => msg(to, { messages: [{ device_id: 2 ** 31, body: b64(4) }] }),
      ],
      [
        'a copy with an unknown field',
        (to: DataUser) => msg(to, { messages: [{ device_id: 1, body: b64(4), x: 1 }] }),
      ],
      [
        'a copy body over MAX_MESSAGE_BYTES in a sync copy',
        (to: DataUser) => msg(to, { own: [{ device_id: 2, body: b64(1025) }] }),
      ],
      ['unknown field', (to: DataUser) => msg(to, { extra: 1 })],
      ['client_id with a bad character', (to: DataUser) => msg(to, { client_id: 'a b' })],
      ['client_id too long', (to: DataUser) => msg(to, { client_id: 'a'.repeat(65) })],
      ['body not base64', (to: DataUser) => msg(to, { body: 'not base64!' })],
      ['body empty', (to: DataUser) => msg(to, { body: '' })],
      ['body one byte over MAX_MESSAGE_BYTES', (to: DataUser) => msg(to, { body: b64(1025) })],
      ['body a number', (to: DataUser) => msg(to, { body: 5 })],
      ['not an object', () => ['x']],
    ] as const
  ).map(
    ([name, make]): Case => ({
      name: `refuses: ${name}`,
      run: async (p) => {
        return shape(await p.send(t, await makeDeviceUser(t), make(await makeDeviceUser(t))));
      },
      expected: { status: 400, error: 'invalid_request' },
    }),
  ),
  {
    name: 'a body of exactly MAX_MESSAGE_BYTES is accepted',
    run: async (p) =>
      shape(await p.send(t, await makeDeviceUser(t), msg(await makeDeviceUser(t), { body: b64(1024) }))),
    expected: { status: 201, duplicate: false },
  },
  {
    name: 'no such recipient',
    run: async (p) =>
      shape(
        await p.send(t, await makeDeviceUser(t), sendBody('nobody_here_1', { clientId: 'x', body: b64(4) })),
      ),
    expected: { status: 404, error: 'not_found' },
  },
  {
    name: 'a retry with the same client_id and body is a duplicate with the same id',
    run: async (p) => {
      const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
      const m = msg(b);
      const first = await p.send(t, a, m);
      const again = await p.send(t, a, m);
      return [shape(first), shape(again), again.body.id === first.body.id];
    },
    expected: [{ status: 201, duplicate: false }, { status: 200, duplicate: true }, true],
  },
  {
    name: 'the same client_id for another body is refused',
    run: async (p) => {
      const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
      const m = msg(b);
      await p.send(t, a, m);
      return shape(await p.send(t, a, { ...m, messages: [{ device_id: 1, body: b64(16) }] }));
    },
    expected: { status: 409, error: 'client_id_reused' },
  },
  {
    name: 'the same client_id for another copy set is refused (a copy added)',
    run: async (p) => {
      const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
      const m = msg(b);
      await p.send(t, a, m);
      await linkDevice(t, b);
      const more = { ...m, messages: [...m.messages, { device_id: 2, body: b64(16) }] };
      return shape(await p.send(t, a, more));
    },
    expected: { status: 409, error: 'client_id_reused' },
  },
  {
    name: 'a stale recipient device list: 409 with the current lists, nothing stored, no copy delivered',
    run: async (p) => {
      const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
      const b2 = await linkDevice(t, b);
      const a2 = await linkDevice(t, a);
      const stale = await p.send(t, a, { ...msg(b), own: [{ device_id: a2.deviceId, body: b64(8) }] });
      const stored = await t.deps.pool.query('SELECT count(*)::int AS n FROM messages WHERE sender_id = $1', [
        a.id,
      ]);
      const inboxes = await Promise.all(
        [b, b2, a2].map(
          async (u) => (await t.api.get('/get_messages', { token: u.token })).body.messages.length,
        ),
      );
      return [shape(stale), stale.body.devices, stored.rows[0].n, inboxes];
    },
    expected: [{ status: 409, error: 'stale_devices' }, { recipient: [1, 2], own: [2] }, 0, [0, 0, 0]],
  },
  {
    name: 'a stale own device list (a sync copy missing): 409, nothing stored',
    run: async (p) => {
      const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
      await linkDevice(t, a);
      const stale = await p.send(t, a, msg(b));
      const stored = await t.deps.pool.query('SELECT count(*)::int AS n FROM messages WHERE sender_id = $1', [
        a.id,
      ]);
      return [shape(stale), stale.body.devices, stored.rows[0].n];
    },
    expected: [{ status: 409, error: 'stale_devices' }, { recipient: [1], own: [2] }, 0],
  },
  {
    name: 'a copy for a removed or unknown device, or a sync copy for the sending device itself: 409',
    run: async (p) => {
      const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
      const b2 = await linkDevice(t, b);
      await t.deps.pool.query(
        `UPDATE devices SET removed_at = now(), removed_reason = 'unlinked' WHERE user_id = $1 AND device_id = $2`,
        [b.id, b2.deviceId],
      );
      const removed = await p.send(t, a, {
        ...msg(b),
        messages: [1, 2].map((device_id) => ({ device_id, body: b64(8) })),
      });
      const self = await p.send(t, a, { ...msg(b), own: [{ device_id: 1, body: b64(8) }] });
      return [shape(removed), removed.body.devices, shape(self), self.body.devices];
    },
    expected: [
      { status: 409, error: 'stale_devices' },
      { recipient: [1], own: [] },
      { status: 409, error: 'stale_devices' },
      { recipient: [1], own: [] },
    ],
  },
  {
    name: 'after a stale answer the whole set is resent with the same client_id and stored once',
    run: async (p) => {
      const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
      await linkDevice(t, b);
      const m = msg(b);
      const stale = await p.send(t, a, m);
      const full = { ...m, messages: [1, 2].map((device_id) => ({ device_id, body: b64(8) })) };
      const stored = await p.send(t, a, full);
      const again = await p.send(t, a, full);
      return [
        shape(stale),
        shape(stored),
        stored.body.copies.map((c: { device_id: number; own: boolean }) => [c.device_id, c.own]),
        shape(again),
        again.body.copies.map((c: { id: number }) => c.id).join() ===
          stored.body.copies.map((c: { id: number }) => c.id).join(),
        again.body.id === stored.body.copies[0].id,
      ];
    },
    expected: [
      { status: 409, error: 'stale_devices' },
      { status: 201, duplicate: false },
      [
        [1, false],
        [2, false],
      ],
      { status: 200, duplicate: true },
      true,
      true,
    ],
  },
  {
    name: 'a send to the own username',
    run: async (p) => {
      const a = await makeDeviceUser(t);
      return shape(await p.send(t, a, msg(a)));
    },
    expected: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'a session not bound to a device yet: 409 device_required for send and ack, nothing stored',
    run: async (p) => {
      const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
      const bare = { ...a, ...(await newSession(t, a.id, { deviceId: null })) };
      const sent = await http.send(t, b, msg(a));
      if (p === socket) {
        // A device-less session gets no socket at all.
        const ws = await WsClient.open(t.baseUrl);
        ws.send({ type: 'auth', token: bare.token });
        return [await ws.closed(), sent.status];
      }
      const send = await p.send(t, bare, msg(b));
      const ack = await p.ack(t, bare, { ids: [sent.body.id] });
      return [shape(send), shape(ack)];
    },
    expected: 'per path',
  },
  {
    name: 'a full mailbox',
    run: async (p) => {
      const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
      for (let i = 0; i < 10; i++) await p.send(t, a, msg(b));
      return shape(await p.send(t, a, msg(b)));
    },
    expected: { status: 409, error: 'mailbox_full' },
  },
  {
    name: 'an acknowledgement',
    run: async (p) => {
      const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
      const sent = await p.send(t, a, msg(b));
      const acked = await p.ack(t, b, { ids: [sent.body.id] });
      const again = await p.ack(t, b, { ids: [sent.body.id] });
      return [shape(acked), shape(again)];
    },
    expected: [
      { status: 200, acked: 1 },
      { status: 200, acked: 0 },
    ],
  },
  ...(
    [
      ['an empty acknowledgement', {}],
      ['empty lists', { ids: [], no_receipt_ids: [] }],
      ['an id that is not an integer', { ids: [1.5] }],
      ['too many ids', { ids: Array.from({ length: 501 }, (_, i) => i + 1) }],
      ['an unknown field', { ids: [1], more: true }],
    ] as const
  ).map(
    ([name, ack]): Case => ({
      name: `refuses an ack: ${name}`,
      run: async (p) => shape(await p.ack(t, await makeDeviceUser(t), ack)),
      expected: { status: 400, error: 'invalid_request' },
    }),
  ),
];

/** Expectations that differ by path (the socket has no device-less form: it is never opened). */
const perPath: Record<string, Record<string, unknown>> = {
  'a session not bound to a device yet: 409 device_required for send and ack, nothing stored': {
    HTTP: [
      { status: 409, error: 'device_required' },
      { status: 409, error: 'device_required' },
    ],
    WebSocket: [4409, 201],
  },
};

describe.each([http, socket])('the send and ack cases over $name', (path) => {
  it.each(cases)('$name', async (c) => {
    const expected = c.expected === 'per path' ? perPath[c.name]?.[path.name] : c.expected;
    expect(await c.run(path)).toEqual(expected);
  });
});

describe('a session that ended while its socket stayed open', () => {
  // The hub closes a revoked session's sockets when the relay's notice reaches it; a notice can be
  // missed (a listener reconnecting) or race the socket's authentication. The session is ended
  // here with the notice suppressed: every request frame must still be refused.
  it.each([http, socket])('is refused for sends and acknowledgements over $name', async (path) => {
    const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
    const sent = await http.send(t, b, msg(a));
    await socketOf(t, a); // authenticated while the session was live
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // A replica-role session fires no trigger: the revocation notice (migration 0025) is not sent.
      await client.query("SET session_replication_role = 'replica'");
      await client.query('UPDATE sessions SET revoked_at = now() WHERE id = $1', [a.sessionId]);
    } finally {
      await client.end();
    }
    expect(shape(await path.ack(t, a, { ids: [sent.body.id] }))).toEqual({
      status: 401,
      error: 'session_revoked',
    });
    expect(shape(await path.send(t, a, msg(b)))).toEqual({ status: 401, error: 'session_revoked' });
    // The message was not acknowledged: it still waits for a's next live session.
    const rows = new pg.Client({ connectionString: db.url });
    await rows.connect();
    try {
      const r = await rows.query('SELECT acked_at FROM messages WHERE id = $1', [sent.body.id]);
      expect(r.rows[0]?.acked_at ?? null).toBeNull();
    } finally {
      await rows.end();
    }
  });
});

describe('the rate limit', () => {
  it('is one bucket for both paths: a client cannot double its rate by using both', async () => {
    const limited = await startTestApp({
      databaseUrl: db.url,
      clock: t.clock,
      env: { SEND_RATE_BURST: '4', SEND_RATE_PER_SECOND: '1' },
    });
    try {
      const [a, b] = [await makeDeviceUser(limited), await makeDeviceUser(limited)];
      const answers: Answer[] = [];
      for (const p of [http, socket, http, socket]) answers.push(await p.send(limited, a, msg(b)));
      expect(answers.map((x) => x.status)).toEqual([201, 201, 201, 201]);
      for (const p of [socket, http]) {
        const r = await p.send(limited, a, msg(b));
        expect(shape(r), p.name).toEqual({ status: 429, error: 'rate_limited', retry: 1 });
        expect(r.body.message, p.name).toBe('sending too fast');
      }
    } finally {
      await limited.close();
    }
  });
});

describe('frames', () => {
  it('closes the socket with 4400 on a malformed frame, and the request frame is refused before auth', async () => {
    const u = await makeDeviceUser(t);
    for (const bad of ['not json', '{"type":"send","id":1}', '{"type":"send","id":-1,"message":{}}', '[]']) {
      const ws = await WsClient.connect(t.baseUrl, u.token);
      ws.ws.send(bad);
      expect(await ws.closed(), bad).toBe(4400);
    }
    const early = await WsClient.open(t.baseUrl);
    early.send({ type: 'send', id: 1, message: msg(u) });
    expect(await early.closed()).toBe(4401);
  });

  it('answers every one of many large send frames written at once (the socket is paused, not closed)', async () => {
    const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
    await socketOf(t, a); // one socket, opened before the burst
    const answers = await Promise.all(
      Array.from({ length: 9 }, () => socket.send(t, a, msg(b, { body: b64(1024) }))),
    );
    expect(answers.map((x) => x.status)).toEqual(Array(9).fill(201));
    expect((await socketOf(t, a)).closeCode).toBeUndefined();
  });

  it('takes a send frame as large as the HTTP body cap, but no control frame over 4 KB', async () => {
    const [a, b] = [await makeDeviceUser(t), await makeDeviceUser(t)];
    const big = await socket.send(t, a, msg(b, { body: b64(1024) }));
    expect(big.status).toBe(201);
    const ws = await socketOf(t, a);
    ws.ws.send(`{"type":"catch_up","cursor":0}${' '.repeat(5000)}`);
    expect(await ws.closed()).toBe(1009);
  });
});

afterAll(() => {
  for (const ws of sockets.values()) ws.close();
});
