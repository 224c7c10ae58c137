// Property tests of sessions (spec §6–§9): random interleavings of sends by both parties
// with any delivery order, replays (of ratchet and initial messages, into the session and
// into acceptSession with the durable replay log of §6.3), reflections, storage round trips
// and single-bit flips. Every refusal leaves the state byte-identical.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deterministicRandom } from '../scripts/deterministic-random.js';
import { nobleAesGcm } from '../src/aes-gcm.js';
import { CryptoCoreError } from '../src/errors.js';
import { kdfChain } from '../src/ratchet-kdf.js';
import {
  type Accepted,
  acceptSession,
  type Decrypted,
  decryptMessage,
  encryptMessage,
  initiateSession,
  messageKind,
  type SessionOptions,
  type SessionState,
} from '../src/session.js';
import { deserializeSession, serializeSession } from '../src/session-codec.js';
import { nobleX25519, webCryptoX25519 } from '../src/x25519-backend.js';
import { ACC, content, makeParties, replayLog } from './fixtures.js';

const P = makeParties('properties');
type Who = 'A' | 'B';
interface Msg {
  id: number;
  from: Who;
  bytes: Uint8Array;
  body: Uint8Array;
  sentAt: number;
  order: number;
  messageKey: Uint8Array;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** Two parties, their in-flight messages, and checks applied after every step. */
class Conversation {
  a: SessionState;
  b: SessionState | null = null;
  readonly inFlight: Record<Who, Msg[]> = { A: [], B: [] };
  readonly delivered: Record<Who, Msg[]> = { A: [], B: [] };
  readonly sentBy: Record<Who, Msg[]> = { A: [], B: [] };
  private next = 0;
  readonly o: Record<Who, SessionOptions>;
  /** Bob's durable replay log (spec §6.3): every base key he accepted. */
  readonly log = replayLog();

  constructor(seed: number) {
    // Each side picks its X25519 backend from the seed: mixed pairs must interoperate.
    const x = (n: number) => (n & 1 ? webCryptoX25519 : nobleX25519);
    this.o = {
      A: { random: deterministicRandom(`A ${seed}`), clock: () => 1000, aead: nobleAesGcm, x25519: x(seed) },
      B: {
        random: deterministicRandom(`B ${seed}`),
        clock: () => 1000,
        aead: nobleAesGcm,
        x25519: x(seed >> 1),
      },
    };
    this.a = initiateSession(P.alice, P.bundle, ACC, this.o.A).session;
  }

  session(w: Who): SessionState | null {
    return w === 'A' ? this.a : this.b;
  }

  private set(w: Who, s: SessionState): void {
    if (w === 'A') this.a = s;
    else this.b = s;
  }

  async send(from: Who, photo: boolean): Promise<void> {
    const s = this.session(from);
    if (s === null || s.sendingChain === null) return; // Bob cannot speak before hearing Alice
    const id = this.next++;
    const body = new TextEncoder().encode(`${from}${id}`.repeat(1 + (id % 30)));
    const stamp = { sentAt: 1_767_225_600_000 + id, order: id + 1 };
    const messageKey = kdfChain(s.sendingChain.chainKey).messageKey;
    const out = await encryptMessage(
      s,
      photo ? 'photo' : 'text',
      content(body, stamp.order, stamp.sentAt),
      this.o[from],
    );
    this.set(from, out.session);
    const msg = { id, from, bytes: out.message, body, ...stamp, messageKey };
    this.sentBy[from].push(msg);
    this.inFlight[from === 'A' ? 'B' : 'A'].push(msg);
  }

  /** Decrypts `bytes` at `to` without committing the result. */
  async open(to: Who, bytes: Uint8Array): Promise<Decrypted> {
    const s = this.session(to);
    return s === null
      ? acceptSession(P.bobKeys, bytes, this.log, this.o.B)
      : decryptMessage(s, bytes, this.o[to]);
  }

  async deliver(to: Who, pick: number): Promise<void> {
    const q = this.inFlight[to];
    if (q.length === 0) return;
    const [msg] = q.splice(pick % q.length, 1);
    if (msg === undefined) return;
    const given = this.session(to);
    const givenBytes = given === null ? null : serializeSession(given);
    const r = await this.open(to, msg.bytes);
    // Functional API: even a successful decryption leaves the given state untouched.
    if (given !== null) expect(serializeSession(given)).toEqual(givenBytes);
    expect(r.body).toEqual(msg.body);
    expect([r.sentAt, r.order]).toEqual([msg.sentAt, msg.order]);
    if ('replayRecord' in r) this.log.seen.add((r as Accepted).replayRecord.baseKeyHex);
    // Forward secrecy (spec §7.5): the used key is gone from the state.
    expect(contains(serializeSession(r.session), msg.messageKey)).toBe(false);
    this.set(to, r.session);
    this.delivered[to].push(msg);
  }

  /** Any already-delivered message again: rejected, state unchanged. */
  async replay(to: Who, pick: number): Promise<void> {
    const done = this.delivered[to];
    const s = this.session(to);
    if (done.length === 0 || s === null) return;
    const msg = done[pick % done.length] as Msg;
    const before = serializeSession(s);
    const err = await this.open(to, msg.bytes).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CryptoCoreError);
    // spec §6.3: a repeated initial message is always DUPLICATE_MESSAGE, however far the
    // session has moved on; a ratchet message from a chain forgotten beyond
    // MAX_PREVIOUS_CHAINS looks like a new ratchet key and fails its tag (§7.4 step 5).
    const initial = messageKind(msg.bytes) === 'initial';
    expect(initial ? ['DUPLICATE_MESSAGE'] : ['DUPLICATE_MESSAGE', 'AUTH_FAILED']).toContain(
      (err as CryptoCoreError).code,
    );
    expect(serializeSession(s)).toEqual(before);
    // The same initial message offered to acceptSession (session dropped): the durable
    // replay log refuses it before any other work.
    if (initial && to === 'B')
      await expect(acceptSession(P.bobKeys, msg.bytes, this.log, this.o.B)).rejects.toMatchObject({
        code: 'DUPLICATE_MESSAGE',
      });
  }

  /** A message handed back to its own sender: REFLECTED_MESSAGE, state unchanged. */
  async reflect(who: Who, pick: number): Promise<void> {
    const mine = this.sentBy[who];
    const s = this.session(who);
    if (mine.length === 0 || s === null) return;
    const msg = mine[pick % mine.length] as Msg;
    const before = serializeSession(s);
    await expect(this.open(who, msg.bytes)).rejects.toMatchObject({ code: 'REFLECTED_MESSAGE' });
    expect(serializeSession(s)).toEqual(before);
  }

  roundTrip(who: Who): void {
    const s = this.session(who);
    if (s === null) return;
    const restored = deserializeSession(serializeSession(s));
    expect(restored).toEqual(s);
    expect(structuredClone(s)).toEqual(s);
    this.set(who, restored);
  }
}

const op = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('send' as const),
      who: fc.constantFrom<Who>('A', 'B'),
      photo: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('deliver' as const),
      who: fc.constantFrom<Who>('A', 'B'),
      pick: fc.nat(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('replay' as const),
      who: fc.constantFrom<Who>('A', 'B'),
      pick: fc.nat(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('reflect' as const),
      who: fc.constantFrom<Who>('A', 'B'),
      pick: fc.nat(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('roundtrip' as const), who: fc.constantFrom<Who>('A', 'B') }),
  },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

async function run(c: Conversation, ops: Op[]): Promise<void> {
  for (const o of ops) {
    if (o.t === 'send') await c.send(o.who, o.photo);
    else if (o.t === 'deliver') await c.deliver(o.who, o.pick);
    else if (o.t === 'replay') await c.replay(o.who, o.pick);
    else if (o.t === 'reflect') await c.reflect(o.who, o.pick);
    else c.roundTrip(o.who);
  }
}

describe('session properties', () => {
  it('any interleaving and delivery order: each message decrypts once, both sides converge', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.array(op, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        async (seed, ops, drain) => {
          const c = new Conversation(seed);
          await c.send('A', false);
          await run(c, ops);
          // Drain everything still in flight, in an arbitrary order.
          let i = 0;
          while (c.inFlight.A.length + c.inFlight.B.length > 0) {
            const pick = drain[i++ % Math.max(drain.length, 1)] ?? 0;
            const to: Who =
              c.inFlight.A.length > 0 && (pick % 2 === 0 || c.inFlight.B.length === 0) ? 'A' : 'B';
            await c.deliver(to, pick);
          }
          expect(c.delivered.A.length + c.delivered.B.length).toBe(c.sentBy.A.length + c.sentBy.B.length);
          const b = c.b as SessionState;
          expect(c.a.skippedKeys).toEqual([]);
          expect(b.skippedKeys).toEqual([]);
          // Converge: after each further message, the receiver's chain equals the sender's.
          await c.send('A', false);
          await c.deliver('B', 0);
          expect(c.b?.remoteRatchetKey).toEqual(c.a.sendingRatchet.publicKey);
          expect(c.b?.receivingChain).toEqual(c.a.sendingChain);
          await c.send('B', false);
          await c.deliver('A', 0);
          const a2 = c.a;
          expect(a2.remoteRatchetKey).toEqual(c.b?.sendingRatchet.publicKey);
          expect(a2.receivingChain).toEqual(c.b?.sendingChain);
          expect(a2.pendingInitialHeader).toBeNull();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('any single-bit flip anywhere in any message is rejected and leaves state unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.array(op, { maxLength: 12 }),
        fc.nat(),
        fc.nat(),
        async (seed, ops, pick, bit) => {
          const c = new Conversation(seed);
          await c.send('A', false);
          await run(c, ops);
          const to: Who = c.inFlight.B.length > 0 ? 'B' : 'A';
          await c.send(to === 'B' ? 'A' : 'B', false);
          const q = c.inFlight[to];
          if (q.length === 0) return;
          const msg = q[pick % q.length] as Msg;
          const flipped = msg.bytes.slice();
          const at = bit % (flipped.length * 8);
          flipped[at >> 3] = (flipped[at >> 3] as number) ^ (1 << (at & 7));
          const s = c.session(to);
          const before = s === null ? null : serializeSession(s);
          const err = await c.open(to, flipped).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err, `bit ${at} of ${flipped.length * 8}`).toBeInstanceOf(CryptoCoreError);
          if (s !== null) expect(serializeSession(s)).toEqual(before);
          // The untouched message still decrypts afterwards.
          await c.deliver(to, q.indexOf(msg));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a message of one content type can never be accepted as another', async () => {
    const c = new Conversation(7);
    await c.send('A', false);
    await c.deliver('B', 0);
    await c.send('B', true);
    const msg = c.inFlight.A[0] as Msg;
    for (const type of [0x01, 0x03, 0x04]) {
      const t = msg.bytes.slice();
      t[3] = type;
      await expect(c.open('A', t)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    }
    // The direction byte flipped: the sender's own key then shows reflection or fails auth.
    const d = msg.bytes.slice();
    d[2] = 0x01;
    await expect(c.open('A', d)).rejects.toBeInstanceOf(CryptoCoreError);
    const r = await c.open('A', msg.bytes);
    expect(r.contentType).toBe('photo');
    // Photo message v3 (spec §10.1): the message key never leaves crypto-core.
    expect(Object.keys(r).sort()).toEqual(['body', 'contentType', 'order', 'sentAt', 'session']);
  });
});
