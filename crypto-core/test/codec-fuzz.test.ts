// Fuzzing the decoders (spec §4.5, §6.1, §7.7, §8): random bytes and randomly mutated valid
// encodings either decode or fail with a CryptoCoreError — never another exception — and
// valid objects round-trip byte-exactly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBundle, encodeBundle, type PreKeyBundle } from '../src/bundle.js';
import { CryptoCoreError } from '../src/errors.js';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  messageKind,
  parseInitialMessage,
} from '../src/session.js';
import { deserializeSession, serializeSession } from '../src/session-codec.js';
import { enc, makeParties, opts } from './fixtures.js';

const P = makeParties('fuzz');

async function onlyCryptoCoreErrors(fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof CryptoCoreError)) throw e;
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  if (m.kind === 'append') return Uint8Array.of(...bytes, ...m.extra);
  if (m.kind === 'cut') return bytes.slice(0, m.at % (bytes.length + 1));
  const out = bytes.slice();
  out[m.at % out.length] = m.value;
  return out;
}

describe('decoder fuzzing', async () => {
  const a = initiateSession(P.alice, P.bundle, opts('fz')).session;
  const first = await encryptMessage(a, 'text', enc('fuzz'), opts('fz'));
  const b = await acceptSession(P.bobKeys, first.message, opts('fzb'));
  const reply = await encryptMessage(b.session, 'text', enc('back'), opts('fzc'));
  const samples = {
    bundle: encodeBundle(P.bundle),
    initial: first.message,
    ratchet: reply.message,
    session: serializeSession(b.session),
  };
  const decoders: [string, (x: Uint8Array) => unknown][] = [
    ['decodeBundle', decodeBundle],
    ['parseInitialMessage', parseInitialMessage],
    ['messageKind', messageKind],
    ['deserializeSession', deserializeSession],
    ['decryptMessage (initiator)', (x) => decryptMessage(first.session, x)],
    ['decryptMessage (responder)', (x) => decryptMessage(b.session, x)],
    ['acceptSession', (x) => acceptSession(P.bobKeys, x)],
  ];

  it('random bytes: every decoder returns or throws a CryptoCoreError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 1500 }),
        fc.constantFrom(0x01, 0x02),
        async (bytes, kind) => {
          // Also with a plausible version/kind prefix, so parsing gets past the first bytes.
          for (const x of [bytes, Uint8Array.of(0x01, kind, ...bytes)])
            for (const [, d] of decoders) await onlyCryptoCoreErrors(() => d(x));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('mutated valid encodings: every decoder returns or throws a CryptoCoreError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...(Object.keys(samples) as (keyof typeof samples)[])),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        async (which, ms) => {
          let x = samples[which];
          for (const m of ms) x = mutate(x, m);
          for (const [, d] of decoders) await onlyCryptoCoreErrors(() => d(x));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('random bundles round-trip byte-exactly', () => {
    const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
    const id = fc.nat({ max: 0xffffffff });
    const bundle = fc.record({
      identityKey: bytes(32),
      signedPreKey: fc.record({ id, publicKey: bytes(32), signature: bytes(64) }),
      pqPreKey: fc.record({ id, publicKey: bytes(1184), signature: bytes(64) }),
      oneTimePreKey: fc.option(fc.record({ id, publicKey: bytes(32) }), { nil: undefined }),
    });
    fc.assert(
      fc.property(bundle, (bb) => {
        const x: PreKeyBundle = bb.oneTimePreKey === undefined ? { ...bb, oneTimePreKey: undefined } : bb;
        const e = encodeBundle(x);
        const d = decodeBundle(e);
        expect(encodeBundle(d)).toEqual(e);
        expect(d.oneTimePreKey?.id).toBe(x.oneTimePreKey?.id);
      }),
      { numRuns: 100 },
    );
  });
});
