// spec/vectors/pqxdh.json and ratchet-conversation.json (spec §14): rebuilt from their
// fixed inputs and compared byte for byte, then their listed intermediates are checked
// against a small independent recomputation straight from @noble (no crypto-core code).
import { readFileSync } from 'node:fs';
import { gcm } from '@noble/ciphers/aes.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';
import {
  buildConversationVector,
  buildPqxdhVector,
  buildRejectionVector,
  parties,
  rejectionCode,
} from '../scripts/protocol-vectors.js';
import { deserializeSession, serializeSession } from '../src/session-codec.js';
import { hex, unhex } from './fixtures.js';

const read = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../spec/vectors/${name}`, import.meta.url), 'utf8'));
const ascii = (s: string) => new TextEncoder().encode(s);
const cat = (...p: Uint8Array[]) => Uint8Array.from(p.flatMap((x) => [...x]));

describe('protocol vectors', () => {
  const pqxdh = read('pqxdh.json');
  const conv = read('ratchet-conversation.json');
  const rejections = read('protocol-rejections.json');

  it('pqxdh.json is reproduced exactly', async () => {
    expect(JSON.parse(JSON.stringify(await buildPqxdhVector()))).toEqual(pqxdh);
  });

  it('ratchet-conversation.json is reproduced exactly', async () => {
    expect(JSON.parse(JSON.stringify(await buildConversationVector()))).toEqual(conv);
  });

  it('pqxdh.json intermediates agree with an independent recomputation', () => {
    const d = pqxdh.derived;
    const i = pqxdh.inputs;
    const ek = unhex(i.aliceEphemeralSecret);
    expect(hex(x25519.getPublicKey(ek))).toBe(d.aliceEphemeralPublic);
    expect(hex(x25519.getSharedSecret(unhex(d.aliceIdentityX25519Secret), unhex(d.signedPreKeyPublic)))).toBe(
      d.dh1,
    );
    expect(hex(x25519.getSharedSecret(ek, unhex(d.bobIdentityX25519Public)))).toBe(d.dh2);
    expect(hex(x25519.getSharedSecret(ek, unhex(d.signedPreKeyPublic)))).toBe(d.dh3);
    expect(hex(x25519.getSharedSecret(ek, unhex(d.oneTimePreKeyPublic)))).toBe(d.dh4);
    const kp = ml_kem768.keygen(unhex(i.pqPreKeyKeygenSeed));
    expect(hex(kp.publicKey)).toBe(d.pqPreKeyPublic);
    expect(hex(ml_kem768.decapsulate(unhex(d.kemCiphertext), kp.secretKey))).toBe(d.kemSharedSecret);
    const ikm = cat(
      new Uint8Array(32).fill(0xff),
      ...[d.dh1, d.dh2, d.dh3, d.dh4, d.kemSharedSecret].map(unhex),
    );
    const sk = hkdf(
      sha256,
      ikm,
      new Uint8Array(32),
      ascii('SecureDrop_PQXDH_X25519_SHA-256_ML-KEM-768_v1'),
      32,
    );
    const binding = sha256(
      cat(ascii('SecureDrop_PQXDH_KEM_binding_v1'), kp.publicKey, unhex(d.kemCiphertext)),
    );
    expect(hex(cat(unhex(d.aliceIdentityPublic), unhex(d.bobIdentityPublic), binding))).toBe(
      d.associatedData,
    );
    // First chain: KDF_RK(SK, DH(ratchet, SPK)) then KDF_CK.
    const dhr = x25519.getSharedSecret(unhex(i.aliceFirstRatchetSecret), unhex(d.signedPreKeyPublic));
    const okm = hkdf(sha256, dhr, sk, ascii('SecureDrop_Ratchet_v1'), 64);
    const mk = hmac(sha256, okm.slice(32), Uint8Array.of(1));
    expect(hex(mk)).toBe(d.firstMessageKey);
    expect(d.initialMessage.length / 2).toBe(
      d.initialHeaderLength + 44 + ascii(i.firstPlaintextUtf8).length + 16,
    );
    expect(d.bobDecrypted).toBe(i.firstPlaintextUtf8);
  });

  it('every conversation message decrypts under its listed key, nonce and AD', () => {
    const ad = unhex(pqxdh.derived.associatedData);
    for (const m of conv.messages) {
      const okm = hkdf(
        sha256,
        unhex(m.messageKey),
        new Uint8Array(32),
        ascii('SecureDrop_MessageKeys_v1'),
        44,
      );
      expect(hex(okm.slice(0, 32))).toBe(m.aesKey);
      expect(hex(okm.slice(32))).toBe(m.nonce);
      const pt = gcm(unhex(m.aesKey), unhex(m.nonce), cat(ad, unhex(m.header))).decrypt(unhex(m.ciphertext));
      expect(new TextDecoder().decode(pt)).toBe(m.plaintextUtf8);
      expect(m.wire).toBe((m.initialHeader ?? '') + m.header + m.ciphertext);
    }
    expect(conv.deliveries.map((x: { plaintextUtf8: string }) => x.plaintextUtf8).sort()).toEqual(
      conv.messages.map((x: { plaintextUtf8: string }) => x.plaintextUtf8).sort(),
    );
  });

  it('protocol-rejections.json is reproduced exactly', async () => {
    expect(JSON.parse(JSON.stringify(await buildRejectionVector()))).toEqual(rejections);
  });

  it('every rejection case, run from the file alone, fails with its code and changes no state', async () => {
    const p = parties();
    const aliceAfter = deserializeSession(unhex(rejections.aliceSessionAfter));
    const bobAfter = deserializeSession(unhex(rejections.bobSessionAfter));
    const bobKeys = { identity: p.bob, signedPreKey: p.spk, pqPreKey: p.pq, oneTimePreKey: p.opk };
    for (const c of rejections.cases) {
      const code = await rejectionCode(c.receiver, unhex(c.input), { aliceAfter, bobAfter, bobKeys });
      expect(code, c.name).toBe(c.error);
    }
    expect(hex(serializeSession(aliceAfter))).toBe(rejections.aliceSessionAfter);
    expect(hex(serializeSession(bobAfter))).toBe(rejections.bobSessionAfter);
    expect(
      await rejectionCode('bob-after', unhex(rejections.control.input), { aliceAfter, bobAfter, bobKeys }),
    ).toBe('ACCEPTED');
  });
});
