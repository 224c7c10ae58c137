// Differential test: crypto-core talks to the independent reference implementation of
// test/reference/reference-protocol.ts (written from spec/protocol.md version 2 with @noble
// only), in both roles, over random interleavings and delivery orders, with bodies of random
// lengths (padding buckets) and the sender's sentAt/order. Byte-level interoperation of two
// implementations is the evidence that the spec says what crypto-core does.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deterministicRandom } from '../scripts/deterministic-random.js';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  type SessionState,
} from '../src/session.js';
import { ACC, CTX, makeParties, opts } from './fixtures.js';
import { type RefContent, RefParty } from './reference/reference-protocol.js';

const P = makeParties('differential');

interface Endpoint {
  canSend(): boolean;
  send(c: RefContent): Promise<Uint8Array>;
  receive(bytes: Uint8Array): Promise<RefContent>;
}
const contentOf = (r: RefContent): RefContent => ({ body: r.body, sentAt: r.sentAt, order: r.order });

function coreAlice(seed: number): Endpoint {
  const o = opts(`core alice ${seed}`);
  let s: SessionState = initiateSession(P.alice, P.bundle, ACC, o).session;
  return {
    canSend: () => true,
    async send(c) {
      const r = await encryptMessage(s, 'text', c, o);
      s = r.session;
      return r.message;
    },
    async receive(bytes) {
      const r = await decryptMessage(s, bytes, o);
      s = r.session;
      return contentOf(r);
    },
  };
}

function coreBob(seed: number): Endpoint {
  const o = opts(`core bob ${seed}`);
  let s: SessionState | null = null;
  return {
    canSend: () => s !== null,
    async send(c) {
      const r = await encryptMessage(s as SessionState, 'text', c, o);
      s = r.session;
      return r.message;
    },
    async receive(bytes) {
      const r =
        s === null ? await acceptSession(P.bobKeys, bytes, CTX, o) : await decryptMessage(s, bytes, o);
      s = r.session;
      return contentOf(r);
    },
  };
}

function refAlice(seed: number): Endpoint {
  const b = P.bundle;
  const p = RefParty.initiate(
    P.alice.secretKey,
    ACC,
    {
      ik: b.identityKey,
      spkId: b.signedPreKey.id,
      spk: b.signedPreKey.publicKey,
      pqKind: b.pqPreKey.kind === 'one-time' ? 2 : 1,
      pqId: b.pqPreKey.id,
      pq: b.pqPreKey.publicKey,
      opkId: b.oneTimePreKey?.id,
      opk: b.oneTimePreKey?.publicKey,
    },
    deterministicRandom(`ref alice ${seed}`),
  );
  return {
    canSend: () => true,
    send: async (c) => p.encrypt(c),
    receive: async (bytes) => p.decrypt(bytes),
  };
}

function refBob(seed: number): Endpoint {
  let p: RefParty | null = null;
  const random = deterministicRandom(`ref bob ${seed}`);
  return {
    canSend: () => p !== null,
    send: async (c) => (p as RefParty).encrypt(c),
    async receive(bytes) {
      if (p !== null) return p.decrypt(bytes);
      const accepted = RefParty.accept(
        { identitySeed: P.bob.secretKey, spk: P.spk, pq: P.pq, opk: P.opk },
        ACC,
        bytes,
        random,
      );
      p = accepted.party;
      return p.decrypt(bytes);
    },
  };
}

type Op = { send: boolean; alice: boolean; pick: number };
const ops = fc.array(fc.record({ send: fc.boolean(), alice: fc.boolean(), pick: fc.nat() }), {
  maxLength: 30,
});

async function converse(alice: Endpoint, bob: Endpoint, steps: Op[]): Promise<number> {
  const toBob: [Uint8Array, RefContent][] = [];
  const toAlice: [Uint8Array, RefContent][] = [];
  let n = 0;
  const send = async (from: Endpoint, queue: [Uint8Array, RefContent][]) => {
    // Bodies of 0 … ~1,700 bytes: several padding buckets of §9.1.
    const c = {
      body: new TextEncoder().encode(`message ${n} `.repeat((n * 37) % 160)),
      sentAt: 1_767_225_600_000 + n * 1000,
      order: n + 1,
    };
    n++;
    queue.push([await from.send(c), c]);
  };
  const deliver = async (to: Endpoint, queue: [Uint8Array, RefContent][], pick: number) => {
    const [pair] = queue.splice(pick % queue.length, 1);
    const [bytes, c] = pair as [Uint8Array, RefContent];
    expect(await to.receive(bytes)).toEqual(c);
  };
  await send(alice, toBob);
  for (const s of steps) {
    if (s.send) {
      if (s.alice) await send(alice, toBob);
      else if (bob.canSend()) await send(bob, toAlice);
    } else if (s.alice ? toAlice.length > 0 : toBob.length > 0) {
      await deliver(s.alice ? alice : bob, s.alice ? toAlice : toBob, s.pick);
    }
  }
  while (toBob.length + toAlice.length > 0) {
    if (toBob.length > 0) await deliver(bob, toBob, 0);
    if (toAlice.length > 0) await deliver(alice, toAlice, toAlice.length - 1);
  }
  await send(bob, toAlice);
  await deliver(alice, toAlice, 0);
  return n;
}

describe('crypto-core ⇄ reference implementation', () => {
  it('crypto-core initiator with a reference responder', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), ops, async (seed, steps) => {
        await converse(coreAlice(seed), refBob(seed), steps);
      }),
      { numRuns: 25 },
    );
  });

  it('reference initiator with a crypto-core responder', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), ops, async (seed, steps) => {
        await converse(refAlice(seed), coreBob(seed), steps);
      }),
      { numRuns: 25 },
    );
  });
});
