// Fuzzing the decoders (spec §4.5, §6.1, §7.7, §8, §9.1): random bytes and randomly mutated
// valid version 2 encodings either decode or fail with a CryptoCoreError — never another
// exception — and valid objects (bundles, content frames) round-trip byte-exactly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBundle, encodeBundle, type PreKeyBundle } from '../src/bundle.js';
import { decodeFrame, encodeFrame } from '../src/content-frame.js';
import { CryptoCoreError } from '../src/errors.js';
import { paddedFrameLength } from '../src/padding.js';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  messageKind,
  parseInitialMessage,
} from '../src/session.js';
import { deserializeSession, serializeSession } from '../src/session-codec.js';
import { ACC, CTX, content, enc, makeParties, opts } from './fixtures.js';

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
  const a = initiateSession(P.alice, P.bundle, ACC, opts('fz')).session;
  const first = await encryptMessage(a, 'text', content(enc('fuzz')), opts('fz'));
  const b = await acceptSession(P.bobKeys, first.message, CTX, opts('fzb'));
  const reply = await encryptMessage(b.session, 'text', content(enc('back')), opts('fzc'));
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
    ['acceptSession', (x) => acceptSession(P.bobKeys, x, CTX)],
  ];

  it('random bytes: every decoder returns or throws a CryptoCoreError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 1500 }),
        fc.constantFrom(0x01, 0x02),
        async (bytes, kind) => {
          // Also with a plausible version/kind prefix, so parsing gets past the first bytes.
          for (const x of [bytes, Uint8Array.of(0x02, kind, ...bytes)])
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
      pqPreKey: fc.record({
        kind: fc.constantFrom('last-resort' as const, 'one-time' as const),
        id,
        publicKey: bytes(1184),
        signature: bytes(64),
      }),
      oneTimePreKey: fc.option(fc.record({ id, publicKey: bytes(32) }), { nil: undefined }),
    });
    fc.assert(
      fc.property(bundle, (bb) => {
        const x: PreKeyBundle = bb.oneTimePreKey === undefined ? { ...bb, oneTimePreKey: undefined } : bb;
        const e = encodeBundle(x);
        const d = decodeBundle(e);
        expect(encodeBundle(d)).toEqual(e);
        expect(d.oneTimePreKey?.id).toBe(x.oneTimePreKey?.id);
        expect(d.pqPreKey.kind).toBe(x.pqPreKey.kind);
      }),
      { numRuns: 100 },
    );
  });

  it('content frames (§9.1): round-trip, land on their bucket, and any other padding is BAD_FORMAT', () => {
    const frameArb = fc.record({
      body: fc.uint8Array({ maxLength: 3000 }),
      sentAt: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      order: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    });
    fc.assert(
      fc.property(frameArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (c, at, value) => {
        const f = encodeFrame(c);
        expect(f.length).toBe(paddedFrameLength(c.body.length));
        expect(f.length % 160).toBe(0);
        expect(decodeFrame(f)).toEqual(c);
        // A non-zero byte anywhere in the zero padding is refused — unless it is 0x80, which
        // makes another canonical frame (the old marker becomes a body byte); a cut or an
        // extra block is refused.
        const padStart = 16 + c.body.length + 1;
        if (padStart < f.length) {
          const t = f.slice();
          t[padStart + (at % (f.length - padStart))] = value;
          let decoded: ReturnType<typeof decodeFrame> | undefined;
          try {
            decoded = decodeFrame(t);
          } catch (e) {
            expect(e).toMatchObject({ code: 'BAD_FORMAT' });
          }
          if (value !== 0x80) expect(decoded).toBeUndefined();
          if (decoded !== undefined) expect(encodeFrame(decoded)).toEqual(t);
        }
        expect(() => decodeFrame(Uint8Array.of(...f, ...new Uint8Array(160)))).toThrow(
          expect.objectContaining({ code: 'BAD_FORMAT' }),
        );
        expect(() => decodeFrame(f.slice(0, f.length - 1))).toThrow(
          expect.objectContaining({ code: 'BAD_FORMAT' }),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('random frame bytes decode or fail with BAD_FORMAT only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 800 }), (bytes) => {
        try {
          const c = decodeFrame(bytes);
          expect(encodeFrame(c)).toEqual(bytes);
        } catch (e) {
          expect(e).toMatchObject({ code: 'BAD_FORMAT' });
        }
      }),
      { numRuns: 300 },
    );
  });
});
