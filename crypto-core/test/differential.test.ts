// Differential test: crypto-core talks to the independent reference implementation of
// test/reference/reference-protocol.ts (written from spec/protocol.md with @noble only), in
// both roles, over random interleavings and delivery orders. Byte-level interoperation of
// two implementations is the evidence that the spec says what crypto-core does.
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
import { makeParties, opts } from './fixtures.js';
import { RefParty } from './reference/reference-protocol.js';

const P = makeParties('differential');

interface Endpoint {
  canSend(): boolean;
  send(pt: Uint8Array): Promise<Uint8Array>;
  receive(bytes: Uint8Array): Promise<Uint8Array>;
}

function coreAlice(seed: number): Endpoint {
  const o = opts(`core alice ${seed}`);
  let s: SessionState = initiateSession(P.alice, P.bundle, o).session;
  return {
    canSend: () => true,
    async send(pt) {
      const r = await encryptMessage(s, 'text', pt, o);
      s = r.session;
      return r.message;
    },
    async receive(bytes) {
      const r = await decryptMessage(s, bytes, o);
      s = r.session;
      return r.plaintext;
    },
  };
}

function coreBob(seed: number): Endpoint {
  const o = opts(`core bob ${seed}`);
  let s: SessionState | null = null;
  return {
    canSend: () => s !== null,
    async send(pt) {
      const r = await encryptMessage(s as SessionState, 'text', pt, o);
      s = r.session;
      return r.message;
    },
    async receive(bytes) {
      const r = s === null ? await acceptSession(P.bobKeys, bytes, o) : await decryptMessage(s, bytes, o);
      s = r.session;
      return r.plaintext;
    },
  };
}

function refAlice(seed: number): Endpoint {
  const b = P.bundle;
  const p = RefParty.initiate(
    P.alice.secretKey,
    {
      ik: b.identityKey,
      spkId: b.signedPreKey.id,
      spk: b.signedPreKey.publicKey,
      pqId: b.pqPreKey.id,
      pq: b.pqPreKey.publicKey,
      opkId: b.oneTimePreKey?.id,
      opk: b.oneTimePreKey?.publicKey,
    },
    deterministicRandom(`ref alice ${seed}`),
  );
  return {
    canSend: () => true,
    send: async (pt) => p.encrypt(pt),
    receive: async (bytes) => p.decrypt(bytes),
  };
}

function refBob(seed: number): Endpoint {
  let p: RefParty | null = null;
  const random = deterministicRandom(`ref bob ${seed}`);
  return {
    canSend: () => p !== null,
    send: async (pt) => (p as RefParty).encrypt(pt),
    async receive(bytes) {
      if (p !== null) return p.decrypt(bytes);
      const accepted = RefParty.accept(
        { identitySeed: P.bob.secretKey, spk: P.spk, pq: P.pq, opk: P.opk },
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
  const toBob: Uint8Array[][] = [];
  const toAlice: Uint8Array[][] = [];
  let n = 0;
  const send = async (from: Endpoint, queue: Uint8Array[][]) => {
    const pt = new TextEncoder().encode(`message ${n++}`);
    queue.push([await from.send(pt), pt]);
  };
  const deliver = async (to: Endpoint, queue: Uint8Array[][], pick: number) => {
    const [pair] = queue.splice(pick % queue.length, 1);
    const [bytes, pt] = pair as [Uint8Array, Uint8Array];
    expect(await to.receive(bytes)).toEqual(pt);
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
