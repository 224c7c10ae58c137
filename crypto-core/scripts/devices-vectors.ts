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
import type { RandomSource } from '../src/deps.js';
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
import { encodeSync } from '../src/sync.js';
import { deterministicRandom } from './deterministic-random.js';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const CLOCK = 1_767_225_600_000;

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

export async function devicesVectors() {
  return {
    description:
      'Linked devices (spec/protocol.md §16, §14.4): a sibling session (one identity key, two devices of the account "alice") carrying two sync copies (content type 0x04), and a provisioning message (X25519 + ML-KEM-768 -> HKDF-SHA-256 -> AES-256-GCM) sealed with fixed randomness, with its link URI. Every random value is listed in draw order. Hex unless named otherwise.',
    generator: 'crypto-core/scripts/gen-devices-vectors.ts',
    sibling: await siblingVector(),
    provisioning: await provisioningVector(),
  };
}
