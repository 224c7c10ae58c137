/**
 * Builds the protocol test vectors of spec/vectors/ (spec/protocol.md §14) from fixed
 * inputs: every secret comes from deterministicRandom(label) and is listed in the output,
 * so an implementation in another language can start from the listed values. The test
 * suite rebuilds them and compares byte for byte (test/protocol-vectors.test.ts).
 */
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { nobleAesGcm } from '../src/aes-gcm.js';
import { decodeBundle, encodeBundle, type PreKeyBundle, verifyBundle } from '../src/bundle.js';
import { dh } from '../src/dh.js';
import { CryptoCoreError } from '../src/errors.js';
import { generateIdentity } from '../src/identity.js';
import { identityDhPublic, identityDhSecret } from '../src/identity-dh.js';
import { paddedFrameLength } from '../src/padding.js';
import {
  generateOneTimePqPreKeys,
  generateOneTimePreKeys,
  generatePqPreKey,
  generateSignedPreKey,
} from '../src/prekeys.js';
import { kdfChain, messageCipherKey } from '../src/ratchet-kdf.js';
import {
  type AcceptContext,
  acceptSession,
  accountBindingDigest,
  type Decrypted,
  decryptMessage,
  encryptMessage,
  initiateSession,
  type ResponderKeys,
  type SessionState,
} from '../src/session.js';
import { serializeSession } from '../src/session-codec.js';
import { deterministicRandom, recording } from './deterministic-random.js';

export const VECTOR_CLOCK_MS = 1_767_225_600_000; // 2026-01-01T00:00:00Z
/** The two accounts of the vectors (spec §5.4): Alice initiates, Bob responds. */
export const VECTOR_ACCOUNTS = { initiator: 'alice', responder: 'bob' } as const;
/** Bob's accept context in the vectors: the accounts and an empty replay log (spec §6.3). */
const freshLog: AcceptContext = { ...VECTOR_ACCOUNTS, isKnownBaseKey: () => false };
const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * The vectors' parties. Bob holds a last-resort ML-KEM prekey (id 9) and a one-time one
 * (id 11); his bundle offers the one-time one, as the relay does while stock lasts.
 */
export function parties() {
  const bobRandom = recording('secure-drop vectors v2: bob keys');
  const alice = generateIdentity(deterministicRandom('secure-drop vectors v2: alice identity'));
  const bob = generateIdentity(bobRandom.random);
  const spk = generateSignedPreKey(bob, 7, bobRandom.random);
  const lastResort = generatePqPreKey(bob, 9, bobRandom.random);
  const [pq] = generateOneTimePqPreKeys(bob, 11, 1, bobRandom.random);
  const [opk] = generateOneTimePreKeys(1001, 1, bobRandom.random);
  if (opk === undefined || pq === undefined) throw new Error('unreachable');
  const bundle: PreKeyBundle = {
    identityKey: bob.publicKey,
    signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    pqPreKey: { kind: pq.kind, id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
    oneTimePreKey: { id: opk.id, publicKey: opk.publicKey },
  };
  return { alice, bob, spk, pq, lastResort, opk, bundle, bobDraws: bobRandom.draws };
}

/** spec/vectors/pqxdh.json: one handshake with every intermediate value. */
export async function buildPqxdhVector(): Promise<Record<string, unknown>> {
  const { alice, bob, spk, pq, lastResort, opk, bundle, bobDraws } = parties();
  const aliceRandom = recording('secure-drop vectors v2: alice session');
  const { session } = initiateSession(alice, bundle, VECTOR_ACCOUNTS, { random: aliceRandom.random });
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
  const body = 'Привет, Bob! First message.';
  const firstRandom = recording('secure-drop vectors v2: alice first nonce');
  const first = await encryptMessage(
    session,
    'text',
    { body: text(body), sentAt: VECTOR_CLOCK_MS, order: 1 },
    { aead: nobleAesGcm, random: firstRandom.random },
  );
  const firstMk = kdfChain(session.sendingChain?.chainKey ?? new Uint8Array(32)).messageKey;
  const bobSide = await acceptSession(
    { identity: bob, signedPreKey: spk, pqPreKey: pq, oneTimePreKey: opk },
    first.message,
    freshLog,
    {
      random: deterministicRandom('secure-drop vectors v2: bob session'),
      clock: () => VECTOR_CLOCK_MS,
      aead: nobleAesGcm,
    },
  );
  const headerLength = session.pendingInitialHeader?.length ?? 0;
  return {
    description:
      'PQXDH-style handshake, protocol version 2 (spec/protocol.md §4–§6, §9): bundle with a one-time ML-KEM-768 prekey, the four DHs, ML-KEM-768 encapsulation, SK, the accounts binding, AD and the first initial message with its padded content frame. All hex.',
    generator: 'crypto-core/scripts/gen-protocol-vectors.ts',
    inputs: {
      aliceIdentitySeed: hex(alice.secretKey),
      bobIdentitySeed: hex(bob.secretKey),
      bobKeyDraws: {
        note: "draws from Bob's stream in order: identity seed, signed prekey secret, last-resort ML-KEM keygen seed (d ‖ z), one-time ML-KEM keygen seed (d ‖ z), one-time X25519 prekey secret",
        values: bobDraws,
      },
      accounts: VECTOR_ACCOUNTS,
      signedPreKeyId: spk.id,
      signedPreKeySecret: hex(spk.secretKey),
      lastResortPqPreKeyId: lastResort.id,
      lastResortPqPreKeyKeygenSeed: bobDraws[2],
      pqPreKeyKind: pq.kind,
      pqPreKeyId: pq.id,
      pqPreKeyKeygenSeed: bobDraws[3],
      oneTimePreKeyId: opk.id,
      oneTimePreKeySecret: hex(opk.secretKey),
      aliceEphemeralSecret: hex(ekSecret),
      kemEncapsulationRandom: hex(kemRandom),
      aliceFirstRatchetSecret: hex(ratchetSecret),
      firstNonce: firstRandom.draws[0],
      firstPlaintextUtf8: body,
      firstSentAt: VECTOR_CLOCK_MS,
      firstOrder: 1,
    },
    derived: {
      aliceIdentityPublic: hex(alice.publicKey),
      aliceIdentityX25519Public: hex(identityDhPublic(alice.publicKey)),
      aliceIdentityX25519Secret: hex(ikA),
      bobIdentityPublic: hex(bob.publicKey),
      bobIdentityX25519Public: hex(ikB),
      signedPreKeyPublic: hex(spk.publicKey),
      signedPreKeySignature: hex(spk.signature),
      lastResortPqPreKeyPublic: hex(lastResort.publicKey),
      lastResortPqPreKeySignature: hex(lastResort.signature),
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
      accountsDigest: hex(accountBindingDigest(VECTOR_ACCOUNTS)),
      associatedData: hex(session.associatedData),
      firstMessageKey: hex(firstMk),
      firstAesKey: hex(messageCipherKey(firstMk)),
      firstFrame: hex(frameOf(text(body), VECTOR_CLOCK_MS, 1)),
      initialMessage: hex(first.message),
      initialHeaderLength: headerLength,
      bobDecrypted: new TextDecoder().decode(bobSide.body),
      bobUsedOneTimePreKeyId: bobSide.usedOneTimePreKeyId,
      bobUsedOneTimePqPreKeyId: bobSide.usedOneTimePqPreKeyId,
      bobReplayRecord: { ...bobSide.replayRecord, baseKey: hex(bobSide.replayRecord.baseKey) },
    },
  };
}

/** The §9.1 frame, built here from its definition for the vectors' listing. */
function frameOf(body: Uint8Array, sentAt: number, order: number): Uint8Array {
  const out = new Uint8Array(paddedFrameLength(body.length));
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(sentAt));
  view.setBigUint64(8, BigInt(order));
  out.set(body, 16);
  out[16 + body.length] = 0x80;
  return out;
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
    random: recording('secure-drop vectors v2: alice session'),
  };
  const b: Party = { name: 'bob', session: null, random: recording('secure-drop vectors v2: bob session') };
  a.session = initiateSession(alice, bundle, VECTOR_ACCOUNTS, { random: a.random.random }).session;
  const order = { alice: 0, bob: 0 };
  const sent = new Map<string, Uint8Array>();
  const messages: Record<string, unknown>[] = [];
  const deliveries: Record<string, unknown>[] = [];

  async function send(p: Party, id: string, kind: 'text' | 'photo', body: string): Promise<void> {
    const s = p.session;
    if (s === null || s.sendingChain === null) throw new Error(`${p.name} cannot send yet`);
    const mk = kdfChain(s.sendingChain.chainKey).messageKey;
    const opts = { random: p.random.random, clock, aead: nobleAesGcm };
    order[p.name] += 1;
    const stamp = { sentAt: VECTOR_CLOCK_MS + 1000 * messages.length, order: order[p.name] };
    const out =
      kind === 'photo'
        ? await encryptMessage(s, 'photo', { body: text(body), ...stamp }, opts)
        : await encryptMessage(s, 'text', { body: text(body), ...stamp }, opts);
    p.session = out.session;
    sent.set(id, out.message);
    const frame = frameOf(text(body), stamp.sentAt, stamp.order);
    const envelopeStart = out.message.length - (frame.length + 16 + 56);
    messages.push({
      id,
      from: p.name,
      contentType: kind,
      plaintextUtf8: body,
      sentAt: stamp.sentAt,
      order: stamp.order,
      frame: hex(frame),
      messageKey: hex(mk),
      aesKey: hex(messageCipherKey(mk)),
      nonce: hex(out.message.slice(envelopeStart + 44, envelopeStart + 56)),
      initialHeader: envelopeStart > 0 ? hex(out.message.slice(0, envelopeStart)) : null,
      header: hex(out.message.slice(envelopeStart, envelopeStart + 56)),
      ciphertext: hex(out.message.slice(envelopeStart + 56)),
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
        freshLog,
        opts,
      );
    } else {
      r = await decryptMessage(to.session, bytes, opts);
    }
    to.session = r.session;
    deliveries.push({
      to: to.name,
      message: id,
      plaintextUtf8: new TextDecoder().decode(r.body),
      sentAt: r.sentAt,
      order: r.order,
      skippedKeysStored: r.session.skippedKeys.length,
      contentType: r.contentType,
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
      'Double Ratchet conversation, protocol version 2 (spec/protocol.md §7–§9) after the handshake of pqxdh.json: DH ratchet steps, out-of-order delivery, random header nonces and padded content frames. All hex.',
    generator: 'crypto-core/scripts/gen-protocol-vectors.ts',
    clockMs: VECTOR_CLOCK_MS,
    aliceRandomDraws: {
      note: "Alice's stream in order: ephemeral secret, KEM randomness, first ratchet secret, then for each message she sends its 12-byte nonce and for each DH ratchet step its X25519 ratchet secret, in the order they happen",
      values: a.random.draws,
    },
    bobRandomDraws: {
      note: "Bob's stream in order: one X25519 ratchet secret per DH ratchet step and one 12-byte nonce per message he sends, in the order they happen",
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

/**
 * What Bob knows when he has no session (spec §5.4, §6.2): the accounts he believes the
 * message is between, and the base keys his durable replay log holds (§6.3).
 */
export interface BobNewContext {
  accounts?: { initiator: string; responder: string };
  knownBaseKeys?: string[];
}

/** One input a receiver must refuse, with the error code of spec §13. */
interface RejectionCase extends BobNewContext {
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

/**
 * u(Q + T) for the point Q of the X25519 key `u` and T the point of small order number `t`
 * (1–7) of noble's table: the same X25519 outputs for every clamped scalar (spec §5.2).
 */
export function withTorsion(u: Uint8Array, t: number): Uint8Array {
  const Fp = ed25519.Point.Fp;
  const n = u.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
  const q = ed25519.Point.fromBytes(Fp.toBytes(Fp.mul(Fp.sub(n, 1n), Fp.inv(Fp.add(n, 1n)))));
  const y = q.add(ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[t] as string)).toAffine().y;
  return Fp.toBytes(Fp.mul(Fp.add(1n, y), Fp.inv(Fp.sub(1n, y))));
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
  const a5Listed = c.vector.messages.find((m) => m.id === 'a5') as { messageKey: string };
  const badFrame = await resealWithFrame(a5, bobAfter.associatedData, a5Listed.messageKey, (f) => {
    f[f.length - 1] = 0x01; // a non-zero byte in the padding
  });
  const badOrder = await resealWithFrame(a5, bobAfter.associatedData, a5Listed.messageKey, (f) => {
    f.fill(0, 8, 16); // order 0
  });
  const baseKey = hex(a0.slice(35, 67));
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
      name: 'initial message with wire version 0x01 (protocol version 1)',
      receiver: 'bob-new',
      input: setByte(a0, 0, 0x01),
      expected: 'UNSUPPORTED_VERSION',
    },
    {
      name: 'EK_A with bit 255 set (non-canonical)',
      receiver: 'bob-new',
      input: flip(a0, 66, 0x80),
      expected: 'BAD_KEY',
    },
    {
      name: 'EK_A plus a point of order 8 (the same DH outputs under another base key: a replay)',
      receiver: 'bob-new',
      input: (() => {
        const out = a0.slice();
        out.set(withTorsion(a0.slice(35, 67), 1), 35);
        return out;
      })(),
      expected: 'BAD_KEY',
    },
    {
      name: 'one-time prekey id not held',
      receiver: 'bob-new',
      input: flip(a0, 80),
      expected: 'UNKNOWN_PREKEY',
    },
    {
      name: 'PQ prekey kind relabelled last-resort (Bob holds no last-resort key with id 11)',
      receiver: 'bob-new',
      input: setByte(a0, 71, 0x01),
      expected: 'UNKNOWN_PREKEY',
    },
    {
      name: 'PQ prekey kind 0x03',
      receiver: 'bob-new',
      input: setByte(a0, 71, 0x03),
      expected: 'BAD_FORMAT',
    },
    {
      name: 'one bit of the KEM ciphertext flipped',
      receiver: 'bob-new',
      input: flip(a0, 500),
      expected: 'AUTH_FAILED',
    },
    {
      name: "Bob believes the sender is 'mallory' (bundle republished under another account)",
      receiver: 'bob-new',
      accounts: { initiator: 'mallory', responder: 'bob' },
      input: a0,
      expected: 'AUTH_FAILED',
    },
    {
      name: 'base key already in the durable replay log (session since dropped)',
      receiver: 'bob-new',
      knownBaseKeys: [baseKey],
      input: a0,
      expected: 'DUPLICATE_MESSAGE',
    },
    { name: 'replay of a3', receiver: 'bob-after', input: get('a3'), expected: 'DUPLICATE_MESSAGE' },
    {
      name: "repeat of a1 (the message that started the session) after Bob moved past Alice's first chain",
      receiver: 'bob-after',
      input: get('a1'),
      expected: 'DUPLICATE_MESSAGE',
    },
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
      name: 'a5 with one bit of its header nonce flipped',
      receiver: 'bob-after',
      input: flip(a5, 50),
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
      name: 'a5 resealed (valid tag) over a frame whose padding ends in 0x01',
      receiver: 'bob-after',
      input: badFrame,
      expected: 'BAD_FORMAT',
    },
    {
      name: 'a5 resealed (valid tag) over a frame with order 0',
      receiver: 'bob-after',
      input: badOrder,
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
    {
      name: 'bundle whose one-time PQ prekey is relabelled last-resort',
      receiver: 'bundle',
      input: setByte(bundleBytes, 133, 0x01),
      expected: 'BAD_SIGNATURE',
    },
    {
      name: 'bundle with version 0x01 (protocol version 1)',
      receiver: 'bundle',
      input: setByte(bundleBytes, 0, 0x01),
      expected: 'UNSUPPORTED_VERSION',
    },
  ];
  const out = [];
  for (const k of cases) {
    const code = await rejectionCode(k.receiver, k.input, { aliceAfter, bobAfter, bobKeys: c.bobKeys }, k);
    if (code !== k.expected) throw new Error(`${k.name}: expected ${k.expected}, got ${code}`);
    out.push({
      name: k.name,
      receiver: k.receiver,
      ...(k.accounts ? { accounts: k.accounts } : {}),
      ...(k.knownBaseKeys ? { knownBaseKeys: k.knownBaseKeys } : {}),
      input: hex(k.input),
      error: code,
    });
  }
  const ok = await decryptMessage(bobAfter, a5, { clock: c.clock, aead: nobleAesGcm });
  return {
    description:
      'Inputs a receiver MUST refuse (spec/protocol.md §13) with the state it holds unchanged. bob-new: Bob with no session and the prekeys of pqxdh.json, believing the accounts are alice → bob unless `accounts` says otherwise, with an empty replay log unless `knownBaseKeys` lists base keys he accepted before; bob-after / alice-after: the states at the end of ratchet-conversation.json, in the storage encoding of §7.7. All hex.',
    generator: 'crypto-core/scripts/gen-protocol-vectors.ts',
    clockMs: VECTOR_CLOCK_MS,
    aliceSessionAfter: hex(serializeSession(aliceAfter)),
    bobSessionAfter: hex(serializeSession(bobAfter)),
    control: {
      name: 'a5 unaltered decrypts',
      receiver: 'bob-after',
      input: hex(a5),
      plaintextUtf8: new TextDecoder().decode(ok.body),
    },
    cases: out,
  };
}

/**
 * `message` with its ciphertext replaced by an AEAD encryption (valid tag, same key, nonce
 * and AD) of its own frame as changed by `edit`: a sender's malformed frame (spec §9.1).
 */
async function resealWithFrame(
  message: Uint8Array,
  associatedData: Uint8Array,
  messageKeyHex: string,
  edit: (frame: Uint8Array) => void,
): Promise<Uint8Array> {
  const header = message.slice(0, 56);
  const key = messageCipherKey(Uint8Array.from(Buffer.from(messageKeyHex, 'hex')));
  const nonce = header.slice(44, 56);
  const ad = new Uint8Array([...associatedData, ...header]);
  const frame = await nobleAesGcm.decrypt(key, nonce, message.slice(56), ad);
  edit(frame);
  return new Uint8Array([...header, ...(await nobleAesGcm.encrypt(key, nonce, frame, ad))]);
}

/** The error code a receiver produces for `input`, or 'ACCEPTED'. */
export async function rejectionCode(
  receiver: RejectionCase['receiver'],
  input: Uint8Array,
  st: { aliceAfter: SessionState; bobAfter: SessionState; bobKeys: ResponderKeys },
  bobNew: BobNewContext = {},
): Promise<string> {
  const o = { random: deterministicRandom('rejections'), clock: () => VECTOR_CLOCK_MS, aead: nobleAesGcm };
  const known = new Set(bobNew.knownBaseKeys ?? []);
  const context: AcceptContext = {
    ...(bobNew.accounts ?? VECTOR_ACCOUNTS),
    isKnownBaseKey: (k) => known.has(hex(k)),
  };
  try {
    if (receiver === 'bundle') verifyBundle(decodeBundle(input));
    else if (receiver === 'bob-new') await acceptSession(st.bobKeys, input, context, o);
    else await decryptMessage(receiver === 'bob-after' ? st.bobAfter : st.aliceAfter, input, o);
    return 'ACCEPTED';
  } catch (e) {
    if (e instanceof CryptoCoreError) return e.code;
    throw e;
  }
}
