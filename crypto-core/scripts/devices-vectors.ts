/**
 * Builds spec/vectors/devices.json (spec/protocol.md §14.4, §16): a sibling session
 * between two devices of one account carrying a sync copy of a text and of a photo
 * message, and a provisioning message sealed with fixed randomness, with every
 * intermediate an independent implementation needs. Every secret comes from
 * deterministicRandom(label) and is listed; test/devices-vectors.test.ts rebuilds the file,
 * compares it byte for byte and recomputes the provisioning values with @noble directly.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { nobleAesGcm } from '../src/aes-gcm.js';
import type { PreKeyBundle } from '../src/bundle.js';
import { encodeBundle } from '../src/bundle.js';
import { generateIdentity } from '../src/identity.js';
import { encodePhotoMetadata } from '../src/photo-metadata.js';
import { generatePqPreKey, generateSignedPreKey } from '../src/prekeys.js';
import {
  createLinkRequest,
  encodeLinkUri,
  encodeProvisioningAddress,
  INFO_PROVISIONING,
  sealProvisioning,
} from '../src/provisioning.js';
import {
  acceptSession,
  type Decrypted,
  decryptMessage,
  encryptMessage,
  initiateSession,
  type SessionState,
} from '../src/session.js';
import { serializeSession } from '../src/session-codec.js';
import { encodeSync } from '../src/sync.js';
import { deterministicRandom, recording } from './deterministic-random.js';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const CLOCK = 1_767_225_600_000;

/** A sibling session: alice's device 1 starts one with her device 2 and sends two sync copies. */
async function siblingVector() {
  const alice = generateIdentity(deterministicRandom('secure-drop vectors devices: alice identity'));
  const d2 = recording('secure-drop vectors devices: alice device 2 keys');
  const spk = generateSignedPreKey(alice, 3, d2.random);
  const pq = generatePqPreKey(alice, 4, d2.random);
  const bundle: PreKeyBundle = {
    identityKey: alice.publicKey,
    signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    pqPreKey: { kind: pq.kind, id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
  };
  const accounts = { initiator: 'alice', responder: 'alice', sibling: true } as const;
  const d1 = recording('secure-drop vectors devices: alice device 1 session');
  const opts = { random: d1.random, clock: () => CLOCK, aead: nobleAesGcm };
  let session = initiateSession(alice, bundle, accounts, opts).session;
  const photoMessage = encodePhotoMetadata({
    photoKey: deterministicRandom('secure-drop vectors devices: photo key')(32),
    mime: 'image/jpeg',
    byteLength: 1000,
    width: 64,
    height: 48,
    ciphertextSha256: sha256(text('a blob')),
    blobId: 'blob-1',
    thumbnail: new Uint8Array(0),
  });
  const copies = [
    { peer: 'bob', contentType: 'text' as const, body: text('hi bob, from my phone'), order: 5 },
    { peer: 'bob', contentType: 'photo' as const, body: photoMessage, order: 6 },
  ];
  const messages = [];
  let device2AfterFirst = '';
  let receiver: SessionState | null = null;
  const d2opts = {
    random: deterministicRandom('secure-drop vectors devices: alice device 2 session'),
    clock: () => CLOCK,
    aead: nobleAesGcm,
  };
  for (const c of copies) {
    const body = encodeSync({ peer: c.peer, contentType: c.contentType, body: c.body });
    const sentAt = CLOCK + c.order;
    const out = await encryptMessage(session, 'sync', { body, sentAt, order: c.order }, opts);
    session = out.session;
    const got: Decrypted =
      receiver === null
        ? await acceptSession(
            { identity: alice, signedPreKey: spk, pqPreKey: pq },
            out.message,
            { ...accounts, isKnownBaseKey: () => false },
            d2opts,
          )
        : await decryptMessage(receiver, out.message, d2opts);
    receiver = got.session;
    if (device2AfterFirst === '') device2AfterFirst = hex(serializeSession(got.session));
    messages.push({
      sync: { peer: c.peer, contentType: c.contentType, body: hex(c.body) },
      syncBody: hex(body),
      sentAt,
      order: c.order,
      wire: hex(out.message),
      decrypted: { contentType: got.contentType, body: hex(got.body), sentAt: got.sentAt, order: got.order },
    });
  }
  return {
    accounts,
    identitySeed: hex(alice.secretKey),
    identityKey: hex(alice.publicKey),
    device2: {
      draws: d2.draws,
      signedPreKeyId: spk.id,
      pqPreKeyId: pq.id,
      bundle: hex(encodeBundle(bundle)),
    },
    device1Draws: d1.draws,
    messages,
    device2SessionAfterFirst: device2AfterFirst,
  };
}

/** The provisioning payload of the vector: a minimal valid document (spec/provisioning.schema.json). */
export function vectorPayload(identitySeed: Uint8Array): Uint8Array {
  return text(
    JSON.stringify({
      v: 1,
      username: 'alice',
      identity_seed: Buffer.from(identitySeed).toString('base64'),
      contacts: [
        {
          username: 'bob',
          identity_key: Buffer.from(new Uint8Array(32).fill(0x42)).toString('base64'),
          verified: true,
          accepted: true,
          blocked: false,
        },
      ],
      history: [{ peer: 'bob', from_me: true, sent_at: CLOCK, order: 1, text: 'hello', photo: null }],
      lock_hint: null,
    }),
  );
}

async function provisioningVector() {
  const newDevice = recording('secure-drop vectors devices: new device link keys');
  const req = createLinkRequest(newDevice.random);
  const address = deterministicRandom('secure-drop vectors devices: provisioning address')(16);
  const link = { address, xPk: req.xPk, ekHash: req.ekHash };
  const seed = deterministicRandom('secure-drop vectors devices: alice identity')(32);
  const payload = vectorPayload(seed);
  const sealer = recording('secure-drop vectors devices: sealer');
  const message = await sealProvisioning(link, req.ek, payload, { random: sealer.random, aead: nobleAesGcm });
  const [eSk, m, nonce] = sealer.draws;
  if (eSk === undefined || m === undefined || nonce === undefined) throw new Error('unreachable');
  const ePk = x25519.getPublicKey(Buffer.from(eSk, 'hex'));
  const dhOut = x25519.getSharedSecret(Buffer.from(eSk, 'hex'), req.xPk);
  const { cipherText, sharedSecret } = ml_kem768.encapsulate(req.ek, Buffer.from(m, 'hex'));
  const info = new Uint8Array([...INFO_PROVISIONING, ...address, ...req.xPk, ...ePk, ...req.ekHash]);
  return {
    newDevice: {
      draws: newDevice.draws,
      xSk: hex(req.secret.xSk),
      xPk: hex(req.xPk),
      ek: hex(req.ek),
      ekHash: hex(req.ekHash),
    },
    address: hex(address),
    addressBase64url: encodeProvisioningAddress(address),
    linkUri: encodeLinkUri(link),
    payloadUtf8: new TextDecoder().decode(payload),
    sealerDraws: { e: eSk, m, nonce },
    ePk: hex(ePk),
    dh: hex(dhOut),
    kemCiphertext: hex(cipherText),
    kemSharedSecret: hex(sharedSecret),
    hkdfInfo: hex(info),
    message: hex(message),
    messageLength: message.length,
  };
}

const unhexStr = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const edit = (h: string, at: number, value: number): string => {
  const b = unhexStr(h);
  b[at] = value;
  return hex(b);
};

/** A refusal an implementation must reproduce: where the input goes, and its §13 code. */
interface DevicesRejection {
  name: string;
  /** Which check: see spec §14.4. */
  check: string;
  input: string;
  expected: string;
}

function rejections(
  sibling: Awaited<ReturnType<typeof siblingVector>>,
  prov: Awaited<ReturnType<typeof provisioningVector>>,
) {
  const [first, second] = sibling.messages;
  if (first === undefined || second === undefined) throw new Error('unreachable');
  const raw = hex(Buffer.from(prov.linkUri.slice('securedrop-link:'.length), 'base64url'));
  const uri = (h: string) => `securedrop-link:${Buffer.from(unhexStr(h)).toString('base64url')}`;
  const v2Photo =
    '0201000000c8028001e06570d0f5403993fe11fd2fc814a51a39124f0371399c604d2f44c228afe2a84a0a626c6f622d736d616c6c0008ffd8ff6483a2c1e0';
  const otherEk = ml_kem768.keygen(
    deterministicRandom('secure-drop vectors devices: relay ML-KEM key')(64),
  ).publicKey;
  const msgLen = prov.message.length / 2;
  const cases: DevicesRejection[] = [
    {
      name: 'sibling initial message accepted without the sibling option',
      check: 'accept-without-sibling',
      input: first.wire,
      expected: 'REFLECTED_MESSAGE',
    },
    {
      name: 'second sync copy relabelled text (0x01)',
      check: 'device2-after-first',
      // Still an initial message (device 1 has had no reply): the envelope starts at 1,165.
      input: edit(second.wire, (unhexStr(second.wire)[1] === 0x01 ? 1165 : 0) + 3, 0x01),
      expected: 'AUTH_FAILED',
    },
    {
      name: 'link URI version 0x02',
      check: 'link-uri',
      input: uri(edit(raw, 0, 0x02)),
      expected: 'UNSUPPORTED_VERSION',
    },
    {
      name: 'link URI one character short',
      check: 'link-uri',
      input: prov.linkUri.slice(0, -1),
      expected: 'BAD_FORMAT',
    },
    {
      name: 'link URI with a non-canonical x_pk (all 0xFF)',
      check: 'link-uri',
      input: uri(raw.slice(0, 34) + 'ff'.repeat(32) + raw.slice(98)),
      expected: 'BAD_KEY',
    },
    {
      name: 'a relay-substituted ML-KEM key handed to the sealer',
      check: 'seal-with-ek',
      input: hex(otherEk),
      expected: 'BAD_KEY',
    },
    {
      name: 'provisioning message version 0x02',
      check: 'open',
      input: edit(prov.message, 0, 0x02),
      expected: 'UNSUPPORTED_VERSION',
    },
    {
      name: 'provisioning message truncated to 1,148 bytes',
      check: 'open',
      input: prov.message.slice(0, 1148 * 2),
      expected: 'BAD_FORMAT',
    },
    {
      name: 'provisioning message with its last tag bit flipped',
      check: 'open',
      input: edit(prov.message, msgLen - 1, (unhexStr(prov.message)[msgLen - 1] as number) ^ 0x01),
      expected: 'AUTH_FAILED',
    },
    {
      name: 'provisioning message with a KEM ciphertext bit flipped',
      check: 'open',
      input: edit(prov.message, 40, (unhexStr(prov.message)[40] as number) ^ 0x01),
      expected: 'AUTH_FAILED',
    },
    {
      name: 'provisioning message opened under another address (first byte + 1)',
      check: 'open-other-address',
      input: prov.message,
      expected: 'AUTH_FAILED',
    },
    {
      name: 'sync body carrying a version 2 photo message',
      check: 'sync-body',
      input: `0103${hex(text('bob'))}02${v2Photo}`,
      expected: 'UNSUPPORTED_VERSION',
    },
    {
      name: 'sync body with a non-canonical peer "Bob"',
      check: 'sync-body',
      input: `0103${hex(text('Bob'))}01${hex(text('hi'))}`,
      expected: 'BAD_FORMAT',
    },
    {
      name: 'sync body with inner content type 0x04',
      check: 'sync-body',
      input: `0103${hex(text('bob'))}04${hex(text('hi'))}`,
      expected: 'BAD_FORMAT',
    },
  ];
  return cases;
}

export async function devicesVectors() {
  const sibling = await siblingVector();
  const provisioning = await provisioningVector();
  return {
    description:
      'Linked devices (spec/protocol.md §16, §14.4): a sibling session (one identity key, two devices of the account "alice") carrying two sync copies (content type 0x04), and a provisioning message (X25519 + ML-KEM-768 -> HKDF-SHA-256 -> AES-256-GCM) sealed with fixed randomness, with its link URI; then inputs a receiver must refuse, each with its spec §13 code. Every random value is listed in draw order. Hex unless named otherwise.',
    generator: 'crypto-core/scripts/gen-devices-vectors.ts',
    sibling,
    provisioning,
    rejections: rejections(sibling, provisioning),
  };
}
