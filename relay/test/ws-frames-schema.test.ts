// The WebSocket contract (spec/ws-frames.schema.json, referenced from spec/openapi.yaml GET /ws)
// against the relay: the zod parser of client frames (src/ws/frames.ts) accepts exactly the
// frames the JSON Schema accepts, over a table of samples; every frame a real relay sends in a
// session is valid against the schema's ServerFrame; and the close codes are the same set.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { StreamItem } from '../src/messages/stream.js';
import { CLOSE, type ControlFrame, parseClientFrame } from '../src/ws/frames.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { SPEC_PATH } from './helpers/openapi.js';
import { b64, makeDeviceUser, sendBody, WsClient } from './helpers/relay-data.js';

const SCHEMA_PATH = resolve(SPEC_PATH, '..', 'ws-frames.schema.json');
const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as {
  $id: string;
  $defs: Record<string, unknown>;
};
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
ajv.addSchema(schema);
const validator = (def: string) => {
  const v = ajv.getSchema(`${schema.$id}#/$defs/${def}`);
  if (!v) throw new Error(`no $defs/${def} in ${SCHEMA_PATH}`);
  return v;
};
const clientFrame = validator('ClientFrame');
const serverFrame = validator('ServerFrame');

describe('spec/ws-frames.schema.json', () => {
  it('is what spec/openapi.yaml refers to for the frames', () => {
    const doc = parseYaml(readFileSync(SPEC_PATH, 'utf8'));
    const schemas = doc.components.schemas;
    expect(schemas.WsClientFrame.$ref).toBe('./ws-frames.schema.json#/$defs/ClientFrame');
    expect(schemas.WsServerFrame.$ref).toBe('./ws-frames.schema.json#/$defs/ServerFrame');
    expect(schemas.WsCloseCode.$ref).toBe('./ws-frames.schema.json#/$defs/CloseCode');
  });

  const MAX = Number.MAX_SAFE_INTEGER;
  const samples: [string, unknown][] = [
    ['auth', { type: 'auth', token: 'a.b.c' }],
    ['auth with cursor', { type: 'auth', token: 'a.b.c', cursor: 12 }],
    ['auth, empty token', { type: 'auth', token: '' }],
    ['auth, token too long', { type: 'auth', token: 'x'.repeat(2049) }],
    ['auth, longest token', { type: 'auth', token: 'x'.repeat(2048) }],
    ['auth, negative cursor', { type: 'auth', token: 't', cursor: -1 }],
    ['auth, fractional cursor', { type: 'auth', token: 't', cursor: 1.5 }],
    ['auth, cursor past 2^53', { type: 'auth', token: 't', cursor: MAX + 2 }],
    ['auth, extra field', { type: 'auth', token: 't', x: 1 }],
    ['catch_up', { type: 'catch_up', cursor: 0 }],
    ['catch_up, largest cursor', { type: 'catch_up', cursor: MAX }],
    ['catch_up, no cursor', { type: 'catch_up' }],
    ['catch_up, cursor a string', { type: 'catch_up', cursor: '1' }],
    ['send', { type: 'send', id: 1, message: sendBody('bob', { clientId: 'c', body: 'AAAA' }) }],
    ['send, any message (checked by the route)', { type: 'send', id: 0, message: 5 }],
    ['send, null message', { type: 'send', id: 0, message: null }],
    ['send, no message', { type: 'send', id: 1 }],
    ['send, no id', { type: 'send', message: {} }],
    ['send, id a string', { type: 'send', id: 'a', message: {} }],
    ['send, negative id', { type: 'send', id: -1, message: {} }],
    ['send, id past 2^53', { type: 'send', id: MAX + 2, message: {} }],
    ['send, extra field', { type: 'send', id: 1, message: {}, x: 0 }],
    ['ack', { type: 'ack', id: 2, ack: { ids: [1] } }],
    ['ack, no ack', { type: 'ack', id: 2 }],
    ['ack, message instead of ack', { type: 'ack', id: 2, message: {} }],
    ['unknown type', { type: 'nonsense' }],
    ['no type', { cursor: 1 }],
    ['an array', [{ type: 'catch_up', cursor: 1 }]],
    ['a number', 7],
    ['null', null],
  ];

  it.each(samples)('client frame %s: the relay and the schema agree', (_name, frame) => {
    const relay = parseClientFrame(JSON.stringify(frame)) !== null;
    expect(clientFrame(frame)).toBe(relay);
  });

  it('accepts both ways at least one sample of every client frame type', () => {
    const accepted = samples.filter(([, f]) => parseClientFrame(JSON.stringify(f)) !== null);
    expect(new Set(accepted.map(([, f]) => (f as { type: string }).type))).toEqual(
      new Set(['auth', 'catch_up', 'send', 'ack']),
    );
  });

  it('lists exactly the close codes the relay uses', () => {
    const spec = ((schema.$defs.CloseCode as { oneOf: { const: number }[] }).oneOf ?? []).map((c) => c.const);
    expect(new Set(spec)).toEqual(new Set(Object.values(CLOSE)));
  });

  it('describes the relay-typed frames the relay may build (typed here by the relay’s own types)', () => {
    const at = new Date().toISOString();
    const built: (StreamItem | ControlFrame)[] = [
      { type: 'ready', cursor: 0 },
      { type: 'message', seq: 1, id: 1, from: 'alice', from_device: 1, body: 'AAAA', created_at: at },
      { type: 'devices_changed', seq: 5, created_at: at },
      { type: 'contacts_changed', seq: 6, created_at: at },
      {
        type: 'expired',
        seq: 7,
        from: 'alice',
        count: 2,
        first_sent_at: at,
        last_sent_at: at,
        created_at: at,
      },
      { type: 'key_change', seq: 2, username: 'bob', created_at: at },
      { type: 'delivered', seq: 3, message_id: 4, client_id: 'c1', to: 'bob', created_at: at },
      { type: 'identity_replaced', seq: 4, created_at: at },
      { type: 'prekeys_low', remaining: 3, remaining_pq: 0 },
      { type: 'error', error: 'not_ready', message: 'wait for ready' },
      {
        type: 'response',
        id: 1,
        status: 201,
        body: { id: 1, created_at: at, duplicate: false, copies: [{ device_id: 1, own: false, id: 1 }] },
      },
      {
        type: 'response',
        id: 4,
        status: 409,
        body: { error: 'stale_devices', message: 'm', devices: { recipient: [1, 2], own: [] } },
      },
      { type: 'response', id: 2, status: 200, body: { acked: 1, photos_acked: 0 } },
      {
        type: 'response',
        id: 3,
        status: 429,
        body: { error: 'rate_limited', message: 'm', retry_after_seconds: 1 },
      },
    ];
    for (const f of built) expect(serverFrame(f), JSON.stringify(serverFrame.errors)).toBe(true);
    // …and the schema is not a blank cheque: a success status with an error body, a stray field.
    expect(serverFrame({ type: 'response', id: 1, status: 201, body: { error: 'x', message: 'm' } })).toBe(
      false,
    );
    expect(serverFrame({ type: 'ready', cursor: 0, extra: 1 })).toBe(false);
  });
});

describe('frames a real relay sends', () => {
  let db: TestDatabase;
  let t: TestApp;
  beforeAll(async () => {
    db = await freshDatabase();
    t = await startTestApp({ databaseUrl: db.url, env: { SEND_RATE_BURST: '4', SEND_RATE_PER_SECOND: '1' } });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('are all valid ServerFrames: ready, message, delivered, and every kind of response', async () => {
    const [alice, bob] = [await makeDeviceUser(t), await makeDeviceUser(t)];
    const a = await WsClient.connect(t.baseUrl, alice.token);
    const b = await WsClient.connect(t.baseUrl, bob.token);
    const request = async (ws: WsClient, id: number, frame: Record<string, unknown>) => {
      ws.send({ ...frame, id });
      return ws.next((f) => f.type === 'response' && f.id === id);
    };
    const m = sendBody(bob.username, { clientId: randomUUID(), body: b64(16) });
    const sent = await request(a, 1, { type: 'send', message: m });
    expect(sent.status).toBe(201);
    expect((await request(a, 2, { type: 'send', message: m })).status).toBe(200);
    expect((await request(a, 3, { type: 'send', message: { ...m, client_id: 'bad id' } })).status).toBe(400);
    expect(
      (await request(a, 4, { type: 'send', message: { ...m, client_id: randomUUID(), to: 'nobody_at_all' } }))
        .status,
    ).toBe(404);
    expect((await request(a, 5, { type: 'send', message: { ...m, client_id: randomUUID() } })).status).toBe(
      201,
    );
    expect((await request(a, 6, { type: 'send', message: { ...m, client_id: randomUUID() } })).status).toBe(
      429,
    );
    await b.next((f) => f.type === 'message' && f.id === sent.body.id);
    expect((await request(b, 7, { type: 'ack', ack: { ids: [sent.body.id] } })).status).toBe(200);
    expect((await request(b, 8, { type: 'ack', ack: {} })).status).toBe(400);
    await a.next((f) => f.type === 'delivered');
    const frames = [...a.frames, ...b.frames];
    expect(new Set(frames.map((f) => f.type))).toEqual(
      new Set(['ready', 'message', 'delivered', 'response']),
    );
    for (const f of frames)
      expect(serverFrame(f), `${JSON.stringify(f)} ${JSON.stringify(serverFrame.errors)}`).toBe(true);
    a.close();
    b.close();
  });
});
