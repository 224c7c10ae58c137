// A corpus of hostile inputs (wrong types, wrong lengths, truncated, trailing and oversized
// encodings, version 1 structures, bad usernames, bad content stamps) fed to every public
// function of the protocol half of crypto-core: each must throw a CryptoCoreError — never a
// TypeError, never a sentinel, never a half-built object.
import { describe, expect, it } from 'vitest';
import { decodeBundle, encodeBundle, verifyBundle } from '../src/bundle.js';
import { CryptoCoreError } from '../src/errors.js';
import {
  assertIdentityPublicKey,
  generateIdentity,
  signWithIdentity,
  verifyIdentitySignature,
} from '../src/identity.js';
import { identityDhPublic, identityDhSecret } from '../src/identity-dh.js';
import {
  generateOneTimePqPreKeys,
  generateOneTimePreKeys,
  generatePqPreKey,
  generateSignedPreKey,
  verifyPqPreKey,
  verifySignedPreKey,
} from '../src/prekeys.js';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  messageKind,
  parseInitialMessage,
} from '../src/session.js';
import { deserializeSession, serializeSession } from '../src/session-codec.js';
import { MAX_BODY_BYTES } from '../src/session-limits.js';
import { nobleX25519, webCryptoX25519 } from '../src/x25519-backend.js';
import { ACC, CTX, content, enc, makeParties, opts } from './fixtures.js';

const P = makeParties('hostile');
const notBytes: unknown[] = [
  undefined,
  null,
  0,
  1.5,
  -1,
  'bytes',
  {},
  [],
  [1, 2, 3],
  new ArrayBuffer(32),
  new Uint16Array(16),
  () => 1,
  Symbol('x'),
  10n,
];
const badLengths: unknown[] = [
  new Uint8Array(0),
  new Uint8Array(31),
  new Uint8Array(33),
  new Uint8Array(2048),
];
const notObjects: unknown[] = [undefined, null, 0, 'x', [], new Uint8Array(32), () => 1];
const badInts: unknown[] = [-1, 1.5, 2 ** 32, Number.NaN, Number.POSITIVE_INFINITY, '1', null, undefined, 2n];

async function rejects(fn: () => unknown, what: string): Promise<void> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err, what).toBeInstanceOf(CryptoCoreError);
}

/** A valid value for each argument, and the hostile values to try in its place. */
interface Case {
  name: string;
  args: () => unknown[];
  hostile: unknown[][]; // per position
  call: (...a: never[]) => unknown;
}

/** The same bytes with version byte 0x01: a version 1 structure (spec §3). */
const v1 = (x: Uint8Array): Uint8Array => Uint8Array.of(0x01, ...x.subarray(1));

async function setup() {
  const a = initiateSession(P.alice, P.bundle, ACC, opts('h1')).session;
  const m = await encryptMessage(a, 'text', content(enc('hi')), opts('h1'));
  const b = await acceptSession(P.bobKeys, m.message, CTX, opts('h1b'));
  const reply = await encryptMessage(b.session, 'text', content(enc('yo')), opts('h1c'));
  return { a, m, b, reply };
}

describe('hostile inputs', async () => {
  const { a, m, b, reply } = await setup();
  const bundleBytes = encodeBundle(P.bundle);
  const sessionBytes = serializeSession(b.session);
  const keysVariants: unknown[] = [
    ...notObjects,
    { ...P.bobKeys, identity: null },
    { ...P.bobKeys, signedPreKey: null },
    { ...P.bobKeys, pqPreKey: { ...P.pq, secretKey: new Uint8Array(5) } },
    { ...P.bobKeys, signedPreKey: { ...P.spk, secretKey: 'x' } },
    { ...P.bobKeys, oneTimePreKey: { ...P.opk, secretKey: new Uint8Array(31) } },
    { ...P.bobKeys, identity: { publicKey: P.bob.publicKey, secretKey: 7 } },
    { ...P.bobKeys, pqPreKey: { ...P.pq, kind: 'one-time' } },
    { ...P.bobKeys, pqPreKey: { ...P.pq, kind: undefined } },
  ];
  const badNames: unknown[] = [undefined, null, 5, '', 'al ice', 'tab\t', 'x'.repeat(65), '\u0000', '\ud800'];
  const accountVariants: unknown[] = [
    ...notObjects,
    ...badNames.map((n) => ({ ...ACC, initiator: n })),
    ...badNames.map((n) => ({ ...ACC, responder: n })),
  ];
  const contextVariants: unknown[] = [
    ...accountVariants.map((v) =>
      typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
        ? { ...v, isKnownBaseKey: () => false }
        : v,
    ),
    { ...ACC },
    { ...ACC, isKnownBaseKey: 5 },
    { ...ACC, isKnownBaseKey: () => true }, // a known base key: DUPLICATE_MESSAGE
    { ...ACC, isKnownBaseKey: async () => true },
    { ...ACC, isKnownBaseKey: () => 'yes' }, // anything but false counts as known
  ];
  const stamp = { sentAt: 1_767_225_600_000, order: 1 };
  const badStamps: unknown[] = [
    ...notObjects,
    { ...stamp, sentAt: -1 },
    { ...stamp, sentAt: 1.5 },
    { ...stamp, sentAt: 2 ** 53 },
    { ...stamp, sentAt: '1' },
    { ...stamp, order: 0 },
    { ...stamp, order: -1 },
    { ...stamp, order: undefined },
  ];
  const badContents: unknown[] = [
    ...badStamps.map((v) =>
      typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
        ? { ...v, body: enc('x') }
        : v,
    ),
    ...notBytes.map((body) => ({ ...stamp, body })),
    { ...stamp, body: new Uint8Array(MAX_BODY_BYTES + 1) },
  ];
  const sessionVariants: unknown[] = [
    ...notObjects,
    { ...b.session, version: 1 }, // a stored version 1 state: UNSUPPORTED_VERSION
    { ...b.session, version: 3 },
    { ...b.session, version: '2' },
    { ...b.session, associatedData: new Uint8Array(96) }, // version 1 AD length
    { ...b.session, role: 'observer' },
    { ...b.session, rootKey: new Uint8Array(31) },
    { ...b.session, sendingChain: { chainKey: new Uint8Array(32), counter: -1 } },
    { ...b.session, skippedKeys: [null] },
    { ...b.session, skippedKeys: new Array(2001).fill(0) },
    { ...b.session, previousChains: 'x' },
    { ...b.session, sendingRatchet: null },
    { ...b.session, pendingInitialHeader: new Uint8Array(10) }, // responder with initiator field
  ];
  const badShapes: unknown[] = [
    5,
    'x',
    { random: 5 },
    { clock: 'now' },
    { aead: {} },
    { x25519: {} },
    { x25519: 1 },
  ];
  // Sources that return garbage matter only where randomness is drawn.
  const badOptions: unknown[] = [...badShapes, { random: () => new Uint8Array(3) }];
  const bundleVariants: unknown[] = [
    ...notObjects,
    { ...P.bundle, identityKey: new Uint8Array(31) },
    { ...P.bundle, signedPreKey: null },
    { ...P.bundle, signedPreKey: { ...P.bundle.signedPreKey, id: -1 } },
    { ...P.bundle, pqPreKey: { ...P.bundle.pqPreKey, publicKey: new Uint8Array(1183) } },
    { ...P.bundle, oneTimePreKey: { id: 1.5, publicKey: new Uint8Array(32) } },
    { ...P.bundle, oneTimePreKey: null },
    { ...P.bundle, pqPreKey: { ...P.bundle.pqPreKey, kind: 'none' } },
    { ...P.bundle, pqPreKey: { ...P.bundle.pqPreKey, kind: undefined } },
  ];
  const spkPublic = P.bundle.signedPreKey;
  const pqPublic = P.bundle.pqPreKey;

  const cases: Case[] = [
    {
      name: 'generateIdentity',
      args: () => [undefined],
      hostile: [[5, 'x', () => new Uint8Array(31), () => 'bytes']],
      call: generateIdentity as never,
    },
    {
      name: 'assertIdentityPublicKey',
      args: () => [P.alice.publicKey],
      hostile: [[...notBytes, ...badLengths]],
      call: assertIdentityPublicKey as never,
    },
    {
      name: 'signWithIdentity',
      args: () => [P.alice, enc('m')],
      hostile: [[...notObjects, { publicKey: P.alice.publicKey, secretKey: new Uint8Array(5) }], notBytes],
      call: signWithIdentity as never,
    },
    {
      name: 'verifyIdentitySignature',
      args: () => [P.alice.publicKey, enc('m'), signWithIdentity(P.alice, enc('m'))],
      hostile: [[...notBytes, ...badLengths], notBytes, [...notBytes, ...badLengths, new Uint8Array(64)]],
      call: verifyIdentitySignature as never,
    },
    {
      name: 'identityDhSecret',
      args: () => [P.alice],
      hostile: [[...notObjects, { secretKey: new Uint8Array(3) }]],
      call: identityDhSecret as never,
    },
    {
      name: 'identityDhPublic',
      args: () => [P.alice.publicKey],
      hostile: [[...notBytes, ...badLengths]],
      call: identityDhPublic as never,
    },
    {
      name: 'generateSignedPreKey',
      args: () => [P.bob, 1, undefined],
      hostile: [notObjects, badInts, [5, () => new Uint8Array(1)]],
      call: generateSignedPreKey as never,
    },
    {
      name: 'generatePqPreKey',
      args: () => [P.bob, 1, undefined],
      hostile: [notObjects, badInts, [5, () => new Uint8Array(32)]],
      call: generatePqPreKey as never,
    },
    {
      name: 'generateOneTimePreKeys',
      args: () => [1, 2, undefined],
      hostile: [
        [...badInts, 2 ** 32 - 1],
        [0, 201, ...badInts],
        ['x', () => null],
      ],
      call: generateOneTimePreKeys as never,
    },
    {
      name: 'generateOneTimePqPreKeys',
      args: () => [P.bob, 1, 1, undefined],
      hostile: [notObjects, badInts, [0, 101, ...badInts], ['x', () => null, () => new Uint8Array(63)]],
      call: generateOneTimePqPreKeys as never,
    },
    {
      name: 'verifySignedPreKey',
      args: () => [P.bob.publicKey, spkPublic],
      hostile: [
        [...notBytes, ...badLengths],
        [...notObjects, { ...spkPublic, id: 2 }, { ...spkPublic, signature: new Uint8Array(63) }],
      ],
      call: verifySignedPreKey as never,
    },
    {
      name: 'verifyPqPreKey',
      args: () => [P.bob.publicKey, pqPublic],
      hostile: [
        [...notBytes, ...badLengths],
        [
          ...notObjects,
          { ...pqPublic, id: 3 },
          { ...pqPublic, publicKey: new Uint8Array(32) },
          { ...pqPublic, kind: 'one-time' },
          { ...pqPublic, kind: 'x' },
        ],
      ],
      call: verifyPqPreKey as never,
    },
    { name: 'encodeBundle', args: () => [P.bundle], hostile: [bundleVariants], call: encodeBundle as never },
    {
      name: 'decodeBundle',
      args: () => [bundleBytes],
      hostile: [[...notBytes, ...badLengths, v1(bundleBytes)]],
      call: decodeBundle as never,
    },
    { name: 'verifyBundle', args: () => [P.bundle], hostile: [bundleVariants], call: verifyBundle as never },
    {
      name: 'initiateSession',
      args: () => [P.alice, P.bundle, ACC, undefined],
      hostile: [[...notObjects, { publicKey: 1, secretKey: 2 }], bundleVariants, accountVariants, badOptions],
      call: initiateSession as never,
    },
    {
      name: 'acceptSession',
      args: () => [P.bobKeys, m.message, CTX, undefined],
      hostile: [
        keysVariants,
        [...notBytes, ...badLengths, reply.message, v1(m.message)],
        contextVariants,
        badOptions,
      ],
      call: acceptSession as never,
    },
    {
      name: 'encryptMessage',
      args: () => [a, 'text', content(enc('x')), undefined],
      hostile: [sessionVariants, ['sync', 'TEXT', 1, null], [...notBytes, ...badContents], badOptions],
      call: encryptMessage as never,
    },
    {
      name: 'decryptMessage',
      args: () => [a, reply.message, undefined],
      hostile: [sessionVariants, [...notBytes, ...badLengths, m.message, v1(reply.message)], badOptions],
      call: decryptMessage as never,
    },
    {
      name: 'parseInitialMessage',
      args: () => [m.message],
      hostile: [[...notBytes, ...badLengths, reply.message]],
      call: parseInitialMessage as never,
    },
    {
      name: 'messageKind',
      args: () => [m.message],
      hostile: [[...notBytes, new Uint8Array(0), new Uint8Array(1), Uint8Array.of(1, 9)]],
      call: messageKind as never,
    },
    {
      name: 'nobleX25519.sharedSecret',
      args: () => [P.spk.secretKey, P.opk.publicKey],
      hostile: [
        [...notBytes, ...badLengths],
        [...notBytes, ...badLengths, new Uint8Array(32)],
      ],
      call: ((s: Uint8Array, p: Uint8Array) => nobleX25519.sharedSecret(s, p)) as never,
    },
    {
      name: 'webCryptoX25519.sharedSecret',
      args: () => [P.spk.secretKey, P.opk.publicKey],
      hostile: [
        [...notBytes, ...badLengths],
        [...notBytes, ...badLengths, new Uint8Array(32)],
      ],
      call: ((s: Uint8Array, p: Uint8Array) => webCryptoX25519.sharedSecret(s, p)) as never,
    },
    {
      name: 'nobleX25519.publicKey',
      args: () => [P.spk.secretKey],
      hostile: [[...notBytes, ...badLengths]],
      call: ((s: Uint8Array) => nobleX25519.publicKey(s)) as never,
    },
    {
      name: 'serializeSession',
      args: () => [b.session],
      hostile: [sessionVariants],
      call: serializeSession as never,
    },
    {
      name: 'deserializeSession',
      args: () => [sessionBytes],
      hostile: [[...notBytes, ...badLengths, v1(sessionBytes)]],
      call: deserializeSession as never,
    },
  ];

  it.each(cases.map((c) => [c.name, c] as const))(
    '%s: valid arguments work, each hostile one is a CryptoCoreError',
    async (_, c) => {
      await c.call(...(c.args() as never[])); // the baseline succeeds
      for (let pos = 0; pos < c.hostile.length; pos++) {
        for (const bad of c.hostile[pos] ?? []) {
          const args = c.args();
          args[pos] = bad;
          await rejects(
            () => c.call(...(args as never[])),
            `${c.name} arg ${pos} = ${String(typeof bad === 'symbol' ? 'symbol' : bad)}`,
          );
        }
      }
    },
  );

  it('every truncation, trailing byte and oversized copy of each encoding is rejected', async () => {
    const big = (x: Uint8Array) => {
      const out = new Uint8Array(1 << 20);
      out.set(x);
      return out;
    };
    const encodings: [string, Uint8Array, (x: Uint8Array) => unknown][] = [
      ['bundle', bundleBytes, decodeBundle],
      ['initial message', m.message, (x) => acceptSession(P.bobKeys, x, CTX)],
      ['initial message (parse)', m.message, parseInitialMessage],
      ['ratchet message', reply.message, (x) => decryptMessage(a, x)],
      ['session', sessionBytes, deserializeSession],
    ];
    for (const [name, bytes, fn] of encodings) {
      // Parsing alone cannot tell a shorter ciphertext from a cut one: only cuts before the
      // end of the header and the tag (1,169 + 56 + 16 bytes) are malformed to it.
      const end = name === 'initial message (parse)' ? 1169 + 56 + 16 : bytes.length;
      for (let n = 0; n < end; n += n < 100 ? 1 : 53)
        await rejects(() => fn(bytes.slice(0, n)), `${name} cut at ${n}`);
      if (name !== 'ratchet message' && !name.startsWith('initial'))
        await rejects(() => fn(Uint8Array.of(...bytes, 0)), `${name} + 1 byte`);
      await rejects(() => fn(big(bytes)), `${name} oversized`);
    }
    // Messages end with the AEAD ciphertext, so one extra byte is an authentication failure.
    await expect(decryptMessage(a, Uint8Array.of(...reply.message, 0))).rejects.toMatchObject({
      code: 'AUTH_FAILED',
    });
  });
});
