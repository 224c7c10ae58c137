/**
 * Builds the protocol test vectors of spec/vectors/ (spec/protocol.md §14) from fixed
 * inputs: every secret comes from deterministicRandom(label) and is listed in the output,
 * so an implementation in another language can start from the listed values. The test
 * suite rebuilds them and compares byte for byte (test/protocol-vectors.test.ts).
 */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { nobleAesGcm } from '../src/aes-gcm.js';
import { decodeBundle, encodeBundle, type PreKeyBundle, verifyBundle } from '../src/bundle.js';
import type { RandomSource } from '../src/deps.js';
import { dh } from '../src/dh.js';
import { CryptoCoreError } from '../src/errors.js';
import { generateIdentity } from '../src/identity.js';
import { identityDhPublic, identityDhSecret } from '../src/identity-dh.js';
import { generateOneTimePreKeys, generatePqPreKey, generateSignedPreKey } from '../src/prekeys.js';
import { kdfChain, messageCipherKeys } from '../src/ratchet-kdf.js';
import {
  acceptSession,
  type Decrypted,
  decryptMessage,
  encryptMessage,
  encryptPhotoMessage,
  initiateSession,
  type ResponderKeys,
  type SessionState,
} from '../src/session.js';
import { serializeSession } from '../src/session-codec.js';
import { deterministicRandom } from './deterministic-random.js';

export const VECTOR_CLOCK_MS = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A random source that records every draw, so the vectors can list them in order. */
function recording(label: string): { random: RandomSource; draws: string[] } {
  const inner = deterministicRandom(label);
  const draws: string[] = [];
  return {
    draws,
    random: (n) => {
      const out = inner(n);
      draws.push(hex(out));
      return out;
    },
  };
}

export function parties() {
  const bobRandom = recording('secure-drop vectors v1: bob keys');
  const alice = generateIdentity(deterministicRandom('secure-drop vectors v1: alice identity'));
  const bob = generateIdentity(bobRandom.random);
  const spk = generateSignedPreKey(bob, 7, bobRandom.random);
  const pq = generatePqPreKey(bob, 9, bobRandom.random);
  const [opk] = generateOneTimePreKeys(1001, 1, bobRandom.random);
  if (opk === undefined) throw new Error('unreachable');
  const bundle: PreKeyBundle = {
    identityKey: bob.publicKey,
    signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    pqPreKey: { id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
    oneTimePreKey: { id: opk.id, publicKey: opk.publicKey },
  };
  return { alice, bob, spk, pq, opk, bundle, bobDraws: bobRandom.draws };
}

/** spec/vectors/pqxdh.json: one handshake with every intermediate value. */
export async function buildPqxdhVector(): Promise<Record<string, unknown>> {
  const { alice, bob, spk, pq, opk, bundle, bobDraws } = parties();
  const aliceRandom = recording('secure-drop vectors v1: alice session');
  const { session } = initiateSession(alice, bundle, { random: aliceRandom.random });
  const [ekSecret, kemRandom, ratchetSecret] = aliceRandom.draws.map((h) =>
    Uint8Array.from(Buffer.from(h, 'hex')),
  );
  if (!ekSecret || !kemRandom || !ratchetSecret) throw new Error('unexpected draws');
  const ek = session.baseKey;
  const enc = ml_kem768.encapsulate(pq.publicKey, kemRandom);
  const ikA = identityDhSecret(alice);
  const ikB = identityDhPublic(bob.publicKey);
  const dh1 = dh(ikA, spk.publicKey);
  const dh2 = dh(ekSecret, ikB);
  const dh3 = dh(ekSecret, spk.publicKey);
  const dh4 = dh(ekSecret, opk.publicKey);
  const plaintext = text('Привет, Bob! First message.');
  const first = await encryptMessage(session, 'text', plaintext, { aead: nobleAesGcm });
  const firstMk = kdfChain(session.sendingChain?.chainKey ?? new Uint8Array(32)).messageKey;
  const bobSide = await acceptSession(
    { identity: bob, signedPreKey: spk, pqPreKey: pq, oneTimePreKey: opk },
    first.message,
    {
      random: deterministicRandom('secure-drop vectors v1: bob session'),
      clock: () => VECTOR_CLOCK_MS,
      aead: nobleAesGcm,
    },
  );
  return {
    description:
      'PQXDH-style handshake (spec/protocol.md §4–§6): bundle, the four DHs, ML-KEM-768 encapsulation, SK, AD and the first initial message. All hex.',
    generator: 'crypto-core/scripts/gen-protocol-vectors.ts',
    inputs: {
      aliceIdentitySeed: hex(alice.secretKey),
      bobIdentitySeed: hex(bob.secretKey),
      bobKeyDraws: {
        note: "draws from Bob's stream in order: identity seed, signed prekey secret, ML-KEM keygen seed (d ‖ z), one-time prekey secret",
        values: bobDraws,
      },
      signedPreKeyId: spk.id,
      signedPreKeySecret: hex(spk.secretKey),
      pqPreKeyId: pq.id,
      pqPreKeyKeygenSeed: bobDraws[2],
      oneTimePreKeyId: opk.id,
      oneTimePreKeySecret: hex(opk.secretKey),
      aliceEphemeralSecret: hex(ekSecret),
      kemEncapsulationRandom: hex(kemRandom),
      aliceFirstRatchetSecret: hex(ratchetSecret),
      firstPlaintextUtf8: 'Привет, Bob! First message.',
    },
    derived: {
      aliceIdentityPublic: hex(alice.publicKey),
      aliceIdentityX25519Public: hex(identityDhPublic(alice.publicKey)),
      aliceIdentityX25519Secret: hex(ikA),
      bobIdentityPublic: hex(bob.publicKey),
      bobIdentityX25519Public: hex(ikB),
      signedPreKeyPublic: hex(spk.publicKey),
      signedPreKeySignature: hex(spk.signature),
      pqPreKeyPublic: hex(pq.publicKey),
      pqPreKeySignature: hex(pq.signature),
      oneTimePreKeyPublic: hex(opk.publicKey),
      bundle: hex(encodeBundle(bundle)),
      aliceEphemeralPublic: hex(ek),
      dh1: hex(dh1),
      dh2: hex(dh2),
      dh3: hex(dh3),
      dh4: hex(dh4),
      kemCiphertext: hex(enc.cipherText),
      kemSharedSecret: hex(enc.sharedSecret),
      associatedData: hex(session.associatedData),
      firstMessageKey: hex(firstMk),
      initialMessage: hex(first.message),
      initialHeaderLength: session.pendingInitialHeader?.length,
      bobDecrypted: new TextDecoder().decode(bobSide.plaintext),
      bobUsedOneTimePreKeyId: bobSide.usedOneTimePreKeyId,
    },
  };
}

interface Party {
  name: 'alice' | 'bob';
  session: SessionState | null;
  random: ReturnType<typeof recording>;
}

/**
 * spec/vectors/ratchet-conversation.json: a scripted conversation with DH ratchet steps
 * and out-of-order delivery; every message's key, header, AEAD key/nonce and bytes.
 */
export async function buildConversationVector(): Promise<Record<string, unknown>> {
  return (await conversation()).vector;
}

/** Runs the scripted conversation; the parties stay usable afterwards (rejection vectors). */
async function conversation() {
  const { alice, bob, spk, pq, opk, bundle } = parties();
  const clock = () => VECTOR_CLOCK_MS;
  const a: Party = {
    name: 'alice',
    session: null,
    random: recording('secure-drop vectors v1: alice session'),
  };
  const b: Party = { name: 'bob', session: null, random: recording('secure-drop vectors v1: bob session') };
  a.session = initiateSession(alice, bundle, { random: a.random.random }).session;
  const sent = new Map<string, Uint8Array>();
  const messages: Record<string, unknown>[] = [];
  const deliveries: Record<string, unknown>[] = [];

  async function send(p: Party, id: string, kind: 'text' | 'photo', body: string): Promise<void> {
    const s = p.session;
    if (s === null || s.sendingChain === null) throw new Error(`${p.name} cannot send yet`);
    const mk = kdfChain(s.sendingChain.chainKey).messageKey;
    const opts = { random: p.random.random, clock, aead: nobleAesGcm };
    const out =
      kind === 'photo'
        ? await encryptPhotoMessage(s, () => text(body), opts)
        : await encryptMessage(s, 'text', text(body), opts);
    p.session = out.session;
    sent.set(id, out.message);
    const envelopeStart = out.message.length - (text(body).length + 16 + 44);
    const { key, nonce } = messageCipherKeys(mk);
    messages.push({
      id,
      from: p.name,
      contentType: kind,
      plaintextUtf8: body,
      messageKey: hex(mk),
      aesKey: hex(key),
      nonce: hex(nonce),
      initialHeader: envelopeStart > 0 ? hex(out.message.slice(0, envelopeStart)) : null,
      header: hex(out.message.slice(envelopeStart, envelopeStart + 44)),
      ciphertext: hex(out.message.slice(envelopeStart + 44)),
      wire: hex(out.message),
    });
  }

  async function deliver(to: Party, id: string): Promise<void> {
    const bytes = sent.get(id);
    if (bytes === undefined) throw new Error(`no message ${id}`);
    const opts = { random: to.random.random, clock, aead: nobleAesGcm };
    let r: Decrypted;
    if (to.session === null) {
      r = await acceptSession(
        { identity: bob, signedPreKey: spk, pqPreKey: pq, oneTimePreKey: opk },
        bytes,
        opts,
      );
    } else {
      r = await decryptMessage(to.session, bytes, opts);
    }
    to.session = r.session;
    deliveries.push({
      to: to.name,
      message: id,
      plaintextUtf8: new TextDecoder().decode(r.plaintext),
      skippedKeysStored: r.session.skippedKeys.length,
      photoMessageKey: r.messageKey ? hex(r.messageKey) : null,
    });
  }

  await send(a, 'a0', 'text', 'a0: hello');
  await send(a, 'a1', 'text', 'a1: are you there?');
  await send(a, 'a2', 'text', 'a2: третье');
  await deliver(b, 'a1'); // B starts the session from a1; a0's key is skipped
  await deliver(b, 'a2');
  await send(b, 'b0', 'text', 'b0: yes');
  await send(b, 'b1', 'text', 'b1: here');
  await deliver(a, 'b1'); // A's first DH ratchet step; b0 skipped
  await send(a, 'a3', 'text', 'a3: good');
  await deliver(b, 'a3'); // B's DH ratchet step
  await deliver(b, 'a0'); // late initial message, from a skipped key of an old chain
  await send(b, 'b2', 'text', 'b2: ok');
  await deliver(a, 'b2');
  await deliver(a, 'b0'); // late, skipped key
  await send(a, 'a4', 'photo', 'a4: photo metadata stand-in');
  await deliver(b, 'a4');

  const vector = {
    description:
      'Double Ratchet conversation (spec/protocol.md §7–§9) after the handshake of pqxdh.json: DH ratchet steps and out-of-order delivery. All hex.',
    generator: 'crypto-core/scripts/gen-protocol-vectors.ts',
    clockMs: VECTOR_CLOCK_MS,
    aliceRandomDraws: {
      note: "Alice's stream in order: ephemeral secret, KEM randomness, then one X25519 ratchet secret per DH ratchet step",
      values: a.random.draws,
    },
    bobRandomDraws: {
      note: "Bob's stream in order: one X25519 ratchet secret per DH ratchet step",
      values: b.random.draws,
    },
    messages,
    deliveries,
  };
  return {
    vector,
    a,
    b,
    sent,
    send,
    bundle,
    bobKeys: { identity: bob, signedPreKey: spk, pqPreKey: pq, oneTimePreKey: opk },
    clock,
  };
}

/** One input a receiver must refuse, with the error code of spec §13. */
interface RejectionCase {
  name: string;
  receiver: 'bob-new' | 'bob-after' | 'alice-after' | 'bundle';
  input: Uint8Array;
  expected: string;
}

function flip(bytes: Uint8Array, at: number, mask = 1): Uint8Array {
  const out = bytes.slice();
  out[at] = (out[at] as number) ^ mask;
  return out;
}

function setByte(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = bytes.slice();
  out[at] = value;
  return out;
}

/**
 * spec/vectors/protocol-rejections.json: inputs that MUST be refused, each with its error
 * code, against the states at the end of ratchet-conversation.json (given in the storage
 * encoding of §7.7). Every code is the one crypto-core actually produces; the generator
 * stops if any differs from the expected one.
 */
export async function buildRejectionVector(): Promise<Record<string, unknown>> {
  const c = await conversation();
  const aliceAfter = c.a.session as SessionState;
  const bobAfter = c.b.session as SessionState;
  await c.send(c.a, 'a5', 'text', 'a5: never delivered in the conversation');
  const get = (id: string) => c.sent.get(id) as Uint8Array;
  const a0 = get('a0');
  const a5 = get('a5');
  const bundleBytes = encodeBundle(c.bundle);
  const forgedN = a5.slice();
  forgedN.set([0, 0, 0x05, 0xdc], 40); // N = 1500
  const cases: RejectionCase[] = [
    {
      name: 'initial message with suite 0x00 (no KEM)',
      receiver: 'bob-new',
      input: setByte(a0, 2, 0x00),
      expected: 'DOWNGRADE',
    },
    {
      name: 'initial message with an unknown suite',
      receiver: 'bob-new',
      input: setByte(a0, 2, 0x02),
      expected: 'UNSUPPORTED_VERSION',
    },
    {
      name: 'initial message with wire version 0x02',
      receiver: 'bob-new',
      input: setByte(a0, 0, 0x02),
      expected: 'UNSUPPORTED_VERSION',
    },
    {
      name: 'EK_A with bit 255 set (non-canonical)',
      receiver: 'bob-new',
      input: flip(a0, 66, 0x80),
      expected: 'BAD_KEY',
    },
    {
      name: 'one-time prekey id not held',
      receiver: 'bob-new',
      input: flip(a0, 79),
      expected: 'UNKNOWN_PREKEY',
    },
    {
      name: 'one bit of the KEM ciphertext flipped',
      receiver: 'bob-new',
      input: flip(a0, 500),
      expected: 'AUTH_FAILED',
    },
    { name: 'replay of a3', receiver: 'bob-after', input: get('a3'), expected: 'DUPLICATE_MESSAGE' },
    {
      name: "Bob's own b2 handed back to him",
      receiver: 'bob-after',
      input: get('b2'),
      expected: 'REFLECTED_MESSAGE',
    },
    {
      name: 'a5 with its last tag bit flipped',
      receiver: 'bob-after',
      input: flip(a5, a5.length - 1, 0x80),
      expected: 'AUTH_FAILED',
    },
    {
      name: 'a5 relabelled as a control message',
      receiver: 'bob-after',
      input: setByte(a5, 3, 0x03),
      expected: 'AUTH_FAILED',
    },
    {
      name: "a5 with the responder's direction byte",
      receiver: 'bob-after',
      input: setByte(a5, 2, 0x02),
      expected: 'REFLECTED_MESSAGE',
    },
    {
      name: 'a5 with N forged to 1500 (over MAX_SKIP)',
      receiver: 'bob-after',
      input: forgedN,
      expected: 'TOO_MANY_SKIPPED',
    },
    {
      name: 'a5 cut inside its header',
      receiver: 'bob-after',
      input: a5.slice(0, 40),
      expected: 'BAD_FORMAT',
    },
    {
      name: 'repeat of a0 with its KEM ciphertext altered',
      receiver: 'bob-after',
      input: flip(a0, 500),
      expected: 'AUTH_FAILED',
    },
    {
      name: "Alice's own a0 handed back to her",
      receiver: 'alice-after',
      input: a0,
      expected: 'REFLECTED_MESSAGE',
    },
    {
      name: 'bundle with a flipped bit in the signed-prekey signature',
      receiver: 'bundle',
      input: flip(bundleBytes, 100),
      expected: 'BAD_SIGNATURE',
    },
  ];
  const out = [];
  for (const k of cases) {
    const code = await rejectionCode(k.receiver, k.input, { aliceAfter, bobAfter, bobKeys: c.bobKeys });
    if (code !== k.expected) throw new Error(`${k.name}: expected ${k.expected}, got ${code}`);
    out.push({ name: k.name, receiver: k.receiver, input: hex(k.input), error: code });
  }
  const ok = await decryptMessage(bobAfter, a5, { clock: c.clock, aead: nobleAesGcm });
  return {
    description:
      'Inputs a receiver MUST refuse (spec/protocol.md §13) with the state it holds unchanged. bob-new: Bob with no session and the prekeys of pqxdh.json; bob-after / alice-after: the states at the end of ratchet-conversation.json, in the storage encoding of §7.7. All hex.',
    generator: 'crypto-core/scripts/gen-protocol-vectors.ts',
    clockMs: VECTOR_CLOCK_MS,
    aliceSessionAfter: hex(serializeSession(aliceAfter)),
    bobSessionAfter: hex(serializeSession(bobAfter)),
    control: {
      name: 'a5 unaltered decrypts',
      receiver: 'bob-after',
      input: hex(a5),
      plaintextUtf8: new TextDecoder().decode(ok.plaintext),
    },
    cases: out,
  };
}

/** The error code a receiver produces for `input`, or 'ACCEPTED'. */
export async function rejectionCode(
  receiver: RejectionCase['receiver'],
  input: Uint8Array,
  st: { aliceAfter: SessionState; bobAfter: SessionState; bobKeys: ResponderKeys },
): Promise<string> {
  const o = { random: deterministicRandom('rejections'), clock: () => VECTOR_CLOCK_MS, aead: nobleAesGcm };
  try {
    if (receiver === 'bundle') verifyBundle(decodeBundle(input));
    else if (receiver === 'bob-new') await acceptSession(st.bobKeys, input, o);
    else await decryptMessage(receiver === 'bob-after' ? st.bobAfter : st.aliceAfter, input, o);
    return 'ACCEPTED';
  } catch (e) {
    if (e instanceof CryptoCoreError) return e.code;
    throw e;
  }
}
