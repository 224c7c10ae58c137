#!/usr/bin/env node
// Key material of a first device, for the scripts and harnesses that drive a real relay over
// HTTP (the soak, the backup/restore tests, the schema fuzzer): since linked devices
// (spec/protocol.md §16, spec/openapi.yaml POST /keys) a login session is device-less until it
// uploads the account's identity key with its proof and the device's signed prekeys; only then
// may it send, read and acknowledge messages. Real keys and real signatures, built with noble
// (no hand-written primitive): the identity proof is verified by the relay (§4.6), the prekey
// signatures (§4.3) are checked against crypto-core by scripts/test/device-keys.test.mjs.
//
// As a module: deviceKeyUpload(username) → { body, identity } (POST /keys body; identity keeps
// the secret key for resumeUpload, the RESUME after a new login). As a command (for the Python
// fuzzer): `node scripts/lib/device-keys.mjs <username>...` prints one POST /keys body (JSON)
// a line per username, in order.
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';

// Contexts of spec/protocol.md §4.6 (identity proof) and §4.3 (signed prekeys), ASCII.
const IDENTITY_PROOF_CONTEXT = 'SecureDrop_IdentityOwnership_v2';
const SIGNED_PREKEY_CONTEXT = 'SecureDrop_SignedPreKey_X25519_v2';
const PQ_PREKEY_CONTEXT = 'SecureDrop_SignedPreKey_ML-KEM-768_v2';

const enc = new TextEncoder();
const b64 = (bytes) => Buffer.from(bytes).toString('base64');
const concat = (...parts) => Uint8Array.from(Buffer.concat(parts.map((p) => Buffer.from(p))));
const u16 = (n) => Uint8Array.of(n >>> 8, n & 0xff);
const u32 = (n) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);

/** The canonical username of §11.1 for the names these scripts make (ASCII): NFC, A–Z lowered. */
const canonical = (username) => username.normalize('NFC').replace(/[A-Z]/g, (c) => c.toLowerCase());

/** §4.6: Ed25519 over `context ‖ bytes16(canonical username) ‖ IK`. */
export function identityProof(identity, username) {
  const name = enc.encode(canonical(username));
  return ed25519.sign(
    concat(enc.encode(IDENTITY_PROOF_CONTEXT), u16(name.length), name, identity.publicKey),
    identity.secretKey,
  );
}

/** §4.3: the identity key signs `context ‖ u32(id) ‖ publicKey`. */
const signPrekey = (identity, context, id, publicKey) =>
  ed25519.sign(concat(enc.encode(context), u32(id), publicKey), identity.secretKey);

/** A fresh identity key pair (Ed25519, §4.1). */
export function newIdentity() {
  const secretKey = ed25519.utils.randomSecretKey();
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

/**
 * The POST /keys body that makes a device-less session of `username` its account's device 1
 * (first identity key) — or a new linked device when the account already has this identity —
 * with a complete bundle (identity key, signed X25519 prekey, last-resort ML-KEM-768 prekey), so
 * the device is PUBLISHED and senders must include it (GET /identity device_ids).
 */
export function deviceKeyUpload(username, identity = newIdentity()) {
  const spk = x25519.getPublicKey(x25519.utils.randomSecretKey());
  const { publicKey: pqpk } = ml_kem768.keygen();
  return {
    identity,
    body: {
      identity_key: b64(identity.publicKey),
      identity_proof: b64(identityProof(identity, username)),
      device: { name: 'Scripted device', kind: 'other' },
      signed_prekey: {
        key_id: 1,
        public_key: b64(spk),
        signature: b64(signPrekey(identity, SIGNED_PREKEY_CONTEXT, 1, spk)),
      },
      pq_prekey: {
        key_id: 1,
        public_key: b64(pqpk),
        signature: b64(signPrekey(identity, PQ_PREKEY_CONTEXT, 1, pqpk)),
      },
    },
  };
}

/** The POST /keys body of a RESUME (§16.9): a new login session of the same app takes its device
 * back with the resume secret the relay issued when it created the device. */
export function resumeUpload(username, identity, deviceId, resumeSecret) {
  return {
    identity_key: b64(identity.publicKey),
    identity_proof: b64(identityProof(identity, username)),
    device_id: deviceId,
    resume_secret: resumeSecret,
  };
}

/** A POST /send_message body for a single-device conversation: one copy for the recipient's device 1, no sync copy. */
export const singleDeviceSend = (to, clientId, body) => ({
  to,
  client_id: clientId,
  messages: [{ device_id: 1, body }],
  own: [],
});

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const usernames = process.argv.slice(2);
  if (usernames.length === 0 || usernames.length > 100) {
    console.error('usage: node scripts/lib/device-keys.mjs <username>... (1 to 100 names)');
    process.exit(2);
  }
  process.stdout.write(usernames.map((u) => `${JSON.stringify(deviceKeyUpload(u).body)}\n`).join(''));
}
