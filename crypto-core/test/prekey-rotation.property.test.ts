// Properties of the prekey lifecycle (spec/protocol.md §4.6, §6.2, §6.3): Bob rotates his
// signed X25519 and last-resort ML-KEM prekeys in the middle of conversations, deletes a
// replaced one only after a simulated grace period (by which every message that named it
// has arrived), spends one-time prekeys of both kinds, and keeps the durable replay log of
// §6.3 — pruned when a signed prekey is deleted. Peers start sessions from whatever bundle
// is current. Every message is delivered exactly once with its body, sentAt and order; a
// replay of any initial or ratchet message, at any time, into the live session or into
// acceptSession, is refused and leaves every stored state byte-identical.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deterministicRandom } from '../scripts/deterministic-random.js';
import { nobleAesGcm } from '../src/aes-gcm.js';
import type { PreKeyBundle } from '../src/bundle.js';
import { CryptoCoreError } from '../src/errors.js';
import { generateIdentity, type IdentityKeyPair } from '../src/identity.js';
import {
  generateOneTimePqPreKeys,
  generateOneTimePreKeys,
  generatePqPreKey,
  generateSignedPreKey,
  type OneTimePreKey,
  type PqPreKey,
  type SignedPreKey,
} from '../src/prekeys.js';
import {
  acceptSession,
  type Decrypted,
  decryptMessage,
  encryptMessage,
  initiateSession,
  messageKind,
  parseInitialMessage,
  type ReplayRecord,
  type SessionOptions,
  type SessionState,
} from '../src/session.js';
import { serializeSession } from '../src/session-codec.js';

/** Ticks between rotations and the grace period (spec §4.6: 2 days and 7 days, in days). */
const ROTATE_EVERY = 2;
const GRACE = 7;
const PEERS = ['alice', 'carol'] as const;
type Peer = (typeof PEERS)[number];

const seedRandom = deterministicRandom('rotation fixtures');
const bobIdentity = generateIdentity(seedRandom);
const peerIdentity: Record<Peer, IdentityKeyPair> = {
  alice: generateIdentity(seedRandom),
  carol: generateIdentity(seedRandom),
};
// ML-KEM key generation is the slow step: a pool made once, handed out in order per run.
const spkPool = Array.from({ length: 40 }, (_, i) => generateSignedPreKey(bobIdentity, i + 1, seedRandom));
const pqPool = Array.from({ length: 40 }, (_, i) => generatePqPreKey(bobIdentity, i + 1, seedRandom));
const oneTimePq = generateOneTimePqPreKeys(bobIdentity, 1000, 3, seedRandom);
const oneTimeX = generateOneTimePreKeys(5000, 3, seedRandom);

interface Held<K> {
  key: K;
  replacedAt: number | null;
}
interface Msg {
  id: number;
  peer: Peer;
  toBob: boolean;
  bytes: Uint8Array;
  body: Uint8Array;
  sentAt: number;
  order: number;
}

class World {
  now = 0;
  private nextRotation = ROTATE_EVERY;
  readonly spks = new Map<number, Held<SignedPreKey>>();
  readonly lastResort = new Map<number, Held<PqPreKey>>();
  readonly pqOnce = new Map<number, PqPreKey>(oneTimePq.map((k) => [k.id, k]));
  readonly opks = new Map<number, OneTimePreKey>(oneTimeX.map((k) => [k.id, k]));
  private spkCursor = 0;
  /** The relay's one-time stock: each key handed out at most once (Bob keeps the secret until used). */
  private readonly relayPq = oneTimePq.map((k) => k.id);
  private readonly relayOpk = oneTimeX.map((k) => k.id);
  /** Bob's durable replay log (§6.3), written with each new session. */
  readonly log = new Map<string, ReplayRecord>();
  readonly bob = new Map<Peer, SessionState>();
  readonly peer = new Map<Peer, SessionState>();
  readonly inFlight: Msg[] = [];
  readonly delivered: Msg[] = [];
  readonly sent: Msg[] = [];
  private next = 0;
  private readonly counters = new Map<string, number>();
  private readonly o: SessionOptions;

  constructor(seed: number) {
    this.o = { random: deterministicRandom(`rotation ${seed}`), clock: () => 1_000, aead: nobleAesGcm };
    this.rotate();
  }

  private current<K>(m: Map<number, Held<K>>): K {
    return [...m.values()].find((h) => h.replacedAt === null)?.key as K;
  }

  rotate(): void {
    for (const m of [this.spks, this.lastResort] as Map<number, Held<unknown>>[])
      for (const h of m.values()) if (h.replacedAt === null) h.replacedAt = this.now;
    const i = this.spkCursor++ % spkPool.length;
    this.spks.set((spkPool[i] as SignedPreKey).id, { key: spkPool[i] as SignedPreKey, replacedAt: null });
    this.lastResort.set((pqPool[i] as PqPreKey).id, { key: pqPool[i] as PqPreKey, replacedAt: null });
  }

  /** Time passes; the device rotates when due (spec §4.6), then deletes what grace allows. */
  async tick(days: number): Promise<void> {
    this.now += days;
    while (this.now >= this.nextRotation) {
      this.rotate();
      this.nextRotation += ROTATE_EVERY;
    }
    await this.expire();
  }

  /**
   * Deletes replaced prekeys whose grace period is over. The grace period is chosen longer
   * than any delivery delay: modelled by delivering first every message still in flight
   * that names a key about to go. Replay records of a deleted signed prekey are pruned.
   */
  private async expire(): Promise<void> {
    const due = (h: Held<unknown>) => h.replacedAt !== null && this.now - h.replacedAt >= GRACE;
    const goneSpk = [...this.spks].filter(([, h]) => due(h)).map(([id]) => id);
    const gonePq = [...this.lastResort].filter(([, h]) => due(h)).map(([id]) => id);
    if (goneSpk.length + gonePq.length === 0) return;
    for (const m of [...this.inFlight]) {
      if (!m.toBob || messageKind(m.bytes) !== 'initial') continue;
      const h = parseInitialMessage(m.bytes);
      if (
        goneSpk.includes(h.signedPreKeyId) ||
        (h.pqPreKeyKind === 'last-resort' && gonePq.includes(h.pqPreKeyId))
      )
        await this.deliver(this.inFlight.indexOf(m));
    }
    for (const id of goneSpk) {
      this.spks.delete(id);
      for (const [k, r] of this.log) if (r.signedPreKeyId === id) this.log.delete(k);
    }
    for (const id of gonePq) this.lastResort.delete(id);
  }

  /** What the relay hands out (§4.5): one-time keys while stock lasts, each once. */
  private fetchBundle(): PreKeyBundle {
    const spk = this.current(this.spks);
    const pqId = this.relayPq.shift();
    const opkId = this.relayOpk.shift();
    const pqOnce = pqId === undefined ? undefined : this.pqOnce.get(pqId);
    const opk = opkId === undefined ? undefined : this.opks.get(opkId);
    const pq = pqOnce ?? this.current(this.lastResort);
    return {
      identityKey: bobIdentity.publicKey,
      signedPreKey: spk,
      pqPreKey: pq,
      oneTimePreKey: opk === undefined ? undefined : { id: opk.id, publicKey: opk.publicKey },
    };
  }

  /**
   * A peer starts its session when it first writes, from the bundle current at that moment
   * (a bundle is fetched only to start a session and used at once).
   */
  private start(peer: Peer): void {
    if (this.peer.has(peer)) return;
    const bundle = this.fetchBundle();
    this.peer.set(
      peer,
      initiateSession(peerIdentity[peer], bundle, { initiator: peer, responder: 'bob' }, this.o).session,
    );
  }

  async send(peer: Peer, toBob: boolean): Promise<void> {
    if (toBob) this.start(peer); // a peer's first message starts its session from the current bundle
    const s = toBob ? this.peer.get(peer) : this.bob.get(peer);
    if (s === undefined || s.sendingChain === null) return;
    const id = this.next++;
    const key = `${peer} ${toBob}`;
    const order = (this.counters.get(key) ?? 0) + 1;
    this.counters.set(key, order);
    const body = new TextEncoder().encode(`${key} #${id}`.repeat(1 + (id % 9)));
    const sentAt = 1_767_225_600_000 + this.now * 86_400_000 + id;
    const out = await encryptMessage(s, 'text', { body, sentAt, order }, this.o);
    if (toBob) this.peer.set(peer, out.session);
    else this.bob.set(peer, out.session);
    const msg = { id, peer, toBob, bytes: out.message, body, sentAt, order };
    this.sent.push(msg);
    this.inFlight.push(msg);
  }

  private keysFor(bytes: Uint8Array) {
    const h = parseInitialMessage(bytes);
    const spk = this.spks.get(h.signedPreKeyId)?.key ?? this.current(this.spks);
    const pq =
      (h.pqPreKeyKind === 'one-time'
        ? this.pqOnce.get(h.pqPreKeyId)
        : this.lastResort.get(h.pqPreKeyId)?.key) ?? this.current(this.lastResort);
    const opk = h.oneTimePreKeyId === undefined ? undefined : this.opks.get(h.oneTimePreKeyId);
    return { identity: bobIdentity, signedPreKey: spk, pqPreKey: pq, oneTimePreKey: opk };
  }

  private context(peer: Peer) {
    return {
      initiator: peer,
      responder: 'bob',
      isKnownBaseKey: (k: Uint8Array) => this.log.has(Buffer.from(k).toString('hex')),
    };
  }

  /** Bob's receiving path: an existing session by base key, else acceptSession (§6.3). */
  private async bobReceives(m: Msg): Promise<Decrypted & { commit?: () => void }> {
    const s = this.bob.get(m.peer);
    if (messageKind(m.bytes) === 'initial') {
      const h = parseInitialMessage(m.bytes);
      if (s !== undefined && Buffer.compare(s.baseKey, h.baseKey) === 0)
        return decryptMessage(s, m.bytes, this.o);
      const r = await acceptSession(this.keysFor(m.bytes), m.bytes, this.context(m.peer), this.o);
      return {
        ...r,
        commit: () => this.accepted(r.replayRecord, r.usedOneTimePreKeyId, r.usedOneTimePqPreKeyId),
      };
    }
    if (s === undefined) throw new Error('ratchet message before a session');
    return decryptMessage(s, m.bytes, this.o);
  }

  private accepted(record: ReplayRecord, opkId?: number, pqId?: number): void {
    this.log.set(record.baseKeyHex, record);
    if (opkId !== undefined) this.opks.delete(opkId);
    if (pqId !== undefined) this.pqOnce.delete(pqId);
  }

  async deliver(pick: number): Promise<void> {
    if (this.inFlight.length === 0) return;
    const [m] = this.inFlight.splice(pick % this.inFlight.length, 1);
    if (m === undefined) return;
    const r: Decrypted & { commit?: () => void } = m.toBob
      ? await this.bobReceives(m)
      : await decryptMessage(this.peer.get(m.peer) as SessionState, m.bytes, this.o);
    expect(r.body).toEqual(m.body);
    expect([r.sentAt, r.order]).toEqual([m.sentAt, m.order]);
    r.commit?.();
    if (m.toBob) this.bob.set(m.peer, r.session);
    else this.peer.set(m.peer, r.session);
    this.delivered.push(m);
  }

  private snapshot(): string {
    const all = [...this.bob.values(), ...this.peer.values()].map((s) =>
      Buffer.from(serializeSession(s)).toString('hex'),
    );
    return `${all.join('|')} log ${[...this.log.keys()].sort().join(',')}`;
  }

  /** Any delivered message again, into the live session and into acceptSession. */
  async replay(pick: number): Promise<void> {
    if (this.delivered.length === 0) return;
    const m = this.delivered[pick % this.delivered.length] as Msg;
    const before = this.snapshot();
    const attempt = (fn: () => Promise<unknown>) =>
      fn().then(
        () => 'ACCEPTED',
        (e: unknown) => (e instanceof CryptoCoreError ? e.code : String(e)),
      );
    const live = await attempt(async () =>
      m.toBob ? this.bobReceives(m) : decryptMessage(this.peer.get(m.peer) as SessionState, m.bytes, this.o),
    );
    if (messageKind(m.bytes) === 'initial') {
      expect(live).toBe('DUPLICATE_MESSAGE');
      // As if Bob had dropped the session: the replay log answers while the signed prekey
      // is held; after it is deleted (and the record pruned) the prekey is gone too.
      const h = parseInitialMessage(m.bytes);
      const fresh = await attempt(() =>
        acceptSession(this.keysFor(m.bytes), m.bytes, this.context(m.peer), this.o),
      );
      expect(fresh).toBe(this.spks.has(h.signedPreKeyId) ? 'DUPLICATE_MESSAGE' : 'UNKNOWN_PREKEY');
    } else {
      // A ratchet message from a chain older than MAX_PREVIOUS_CHAINS fails its tag (§7.4).
      expect(['DUPLICATE_MESSAGE', 'AUTH_FAILED']).toContain(live);
    }
    expect(this.snapshot()).toBe(before);
  }
}

const op = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('send' as const),
      peer: fc.constantFrom(...PEERS),
      toBob: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('deliver' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('tick' as const), days: fc.integer({ min: 1, max: 3 }) }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('replay' as const), pick: fc.nat() }) },
);

describe('prekey rotation in the middle of conversations', () => {
  it('every message exactly once; replays refused with state unchanged; old prekeys gone after grace', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.array(op, { minLength: 10, maxLength: 60 }), async (seed, ops) => {
        const w = new World(seed);
        for (const o of ops) {
          if (o.t === 'send') await w.send(o.peer, o.toBob);
          else if (o.t === 'deliver') await w.deliver(o.pick);
          else if (o.t === 'tick') await w.tick(o.days);
          else await w.replay(o.pick);
        }
        while (w.inFlight.length > 0) await w.deliver(0);
        expect(w.delivered.map((m) => m.id).sort((x, y) => x - y)).toEqual(w.sent.map((m) => m.id));
        // Rotation bound (§4.6): no replaced prekey is held longer than its grace period.
        for (const m of [w.spks, w.lastResort] as Map<number, Held<unknown>>[])
          for (const h of m.values())
            if (h.replacedAt !== null) expect(w.now - h.replacedAt).toBeLessThan(GRACE);
        // Every live session still works both ways after all the rotations.
        for (const peer of PEERS) {
          if (!w.bob.has(peer)) continue;
          await w.send(peer, true);
          await w.send(peer, false);
          while (w.inFlight.length > 0) await w.deliver(0);
        }
      }),
      { numRuns: 30 },
    );
  });
});
