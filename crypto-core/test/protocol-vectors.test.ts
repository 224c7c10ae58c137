// spec/vectors/pqxdh.json and ratchet-conversation.json (spec §14): rebuilt from their
// fixed inputs and compared byte for byte, then their listed intermediates are checked
// against a small independent recomputation straight from @noble and the spec's
// definitions (no crypto-core code): the version 2 strings, the one-time ML-KEM prekey's
// own signature context, the accounts binding, the header nonce and the padded frame.
import { readFileSync } from 'node:fs';
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
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
const u16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);
const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
const bytes16 = (b: Uint8Array) => cat(u16(b.length), b);

/** Padmé (PURBs paper, Algorithm 1: (L + bitMask) & ~bitMask), written again from its definition. */
function padmeRef(l: number): number {
  if (l < 2) return l;
  const e = Math.floor(Math.log2(l));
  const s = Math.floor(Math.log2(e)) + 1;
  const bitMask = (1 << (e - s)) - 1;
  return (l + bitMask) & ~bitMask;
}

/** spec §9.1 parsed from its definition: sentAt, order, body; padding checked exactly. */
function parseFrameRef(f: Uint8Array): { sentAt: number; order: number; body: Uint8Array } {
  let end = f.length - 1;
  while (f[end] === 0) end--;
  expect(f[end]).toBe(0x80);
  const body = f.slice(16, end);
  expect(f.length).toBe(Math.ceil(padmeRef(16 + body.length + 1) / 160) * 160);
  const view = new DataView(f.buffer, f.byteOffset);
  return { sentAt: Number(view.getBigUint64(0)), order: Number(view.getBigUint64(8)), body };
}

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
    // The one-time ML-KEM prekey is signed under its own context, the last-resort one under its.
    expect(i.pqPreKeyKind).toBe('one-time');
    const signs = (context: string, id: number, key: Uint8Array, sig: string) =>
      ed25519.verify(unhex(sig), cat(ascii(context), u32(id), key), unhex(d.bobIdentityPublic), {
        zip215: false,
      });
    expect(
      signs('SecureDrop_OneTimePreKey_ML-KEM-768_v2', i.pqPreKeyId, kp.publicKey, d.pqPreKeySignature),
    ).toBe(true);
    expect(
      signs('SecureDrop_SignedPreKey_ML-KEM-768_v2', i.pqPreKeyId, kp.publicKey, d.pqPreKeySignature),
    ).toBe(false);
    const lastResort = ml_kem768.keygen(unhex(i.lastResortPqPreKeyKeygenSeed)).publicKey;
    expect(hex(lastResort)).toBe(d.lastResortPqPreKeyPublic);
    expect(
      signs(
        'SecureDrop_SignedPreKey_ML-KEM-768_v2',
        i.lastResortPqPreKeyId,
        lastResort,
        d.lastResortPqPreKeySignature,
      ),
    ).toBe(true);
    expect(
      signs(
        'SecureDrop_SignedPreKey_X25519_v2',
        i.signedPreKeyId,
        unhex(d.signedPreKeyPublic),
        d.signedPreKeySignature,
      ),
    ).toBe(true);
    // Bundle v2 layout (§4.5): the kind byte 0x02 before the PQ prekey id.
    const bundle = unhex(d.bundle);
    expect(bundle.length).toBe(1423);
    expect([bundle[0], bundle[133]]).toEqual([0x02, 0x02]);
    const ikm = cat(
      new Uint8Array(32).fill(0xff),
      ...[d.dh1, d.dh2, d.dh3, d.dh4, d.kemSharedSecret].map(unhex),
    );
    const sk = hkdf(
      sha256,
      ikm,
      new Uint8Array(32),
      ascii('SecureDrop_PQXDH_X25519_SHA-256_ML-KEM-768_v2'),
      32,
    );
    const binding = sha256(
      cat(ascii('SecureDrop_PQXDH_KEM_binding_v2'), kp.publicKey, unhex(d.kemCiphertext)),
    );
    const accounts = sha256(
      cat(
        ascii('SecureDrop_Accounts_v2'),
        bytes16(ascii(i.accounts.initiator)),
        bytes16(ascii(i.accounts.responder)),
      ),
    );
    expect(hex(accounts)).toBe(d.accountsDigest);
    const ad = cat(unhex(d.aliceIdentityPublic), unhex(d.bobIdentityPublic), binding, accounts);
    expect(hex(ad)).toBe(d.associatedData);
    // First chain: KDF_RK(SK, DH(ratchet, SPK)) then KDF_CK; the AES key from mk (§9).
    const dhr = x25519.getSharedSecret(unhex(i.aliceFirstRatchetSecret), unhex(d.signedPreKeyPublic));
    const okm = hkdf(sha256, dhr, sk, ascii('SecureDrop_Ratchet_v2'), 64);
    const mk = hmac(sha256, okm.slice(32), Uint8Array.of(1));
    expect(hex(mk)).toBe(d.firstMessageKey);
    const aesKey = hkdf(sha256, mk, new Uint8Array(32), ascii('SecureDrop_MessageKey_v2'), 32);
    expect(hex(aesKey)).toBe(d.firstAesKey);
    // Initial header (§6.1): kind byte and id of the PQ prekey, then the envelope (§8).
    const wire = unhex(d.initialMessage);
    expect(d.initialHeaderLength).toBe(1169);
    expect([wire[0], wire[1], wire[2], wire[71]]).toEqual([0x02, 0x01, 0x01, 0x02]);
    const header = wire.slice(d.initialHeaderLength, d.initialHeaderLength + 56);
    expect(hex(header.slice(44))).toBe(i.firstNonce);
    const frame = gcm(aesKey, header.slice(44), cat(ad, header)).decrypt(
      wire.slice(d.initialHeaderLength + 56),
    );
    expect(hex(frame)).toBe(d.firstFrame);
    const parsed = parseFrameRef(frame);
    expect(new TextDecoder().decode(parsed.body)).toBe(i.firstPlaintextUtf8);
    expect([parsed.sentAt, parsed.order]).toEqual([i.firstSentAt, i.firstOrder]);
    expect(d.bobDecrypted).toBe(i.firstPlaintextUtf8);
    expect(d.bobUsedOneTimePqPreKeyId).toBe(i.pqPreKeyId);
    expect(d.bobReplayRecord.baseKey).toBe(d.aliceEphemeralPublic);
  });

  it('every conversation message decrypts under its listed key, header nonce and AD', () => {
    const ad = unhex(pqxdh.derived.associatedData);
    const nonces = new Set<string>();
    for (const m of conv.messages) {
      const key = hkdf(
        sha256,
        unhex(m.messageKey),
        new Uint8Array(32),
        ascii('SecureDrop_MessageKey_v2'),
        32,
      );
      expect(hex(key)).toBe(m.aesKey);
      const header = unhex(m.header);
      expect(header.length).toBe(56);
      expect(hex(header.slice(44))).toBe(m.nonce);
      nonces.add(m.nonce);
      const frame = gcm(key, header.slice(44), cat(ad, header)).decrypt(unhex(m.ciphertext));
      expect(hex(frame)).toBe(m.frame);
      const parsed = parseFrameRef(frame);
      expect(new TextDecoder().decode(parsed.body)).toBe(m.plaintextUtf8);
      expect([parsed.sentAt, parsed.order]).toEqual([m.sentAt, m.order]);
      expect(m.wire).toBe((m.initialHeader ?? '') + m.header + m.ciphertext);
    }
    expect(nonces.size).toBe(conv.messages.length);
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
      const code = await rejectionCode(c.receiver, unhex(c.input), { aliceAfter, bobAfter, bobKeys }, c);
      expect(code, c.name).toBe(c.error);
    }
    expect(hex(serializeSession(aliceAfter))).toBe(rejections.aliceSessionAfter);
    expect(hex(serializeSession(bobAfter))).toBe(rejections.bobSessionAfter);
    expect(
      await rejectionCode('bob-after', unhex(rejections.control.input), { aliceAfter, bobAfter, bobKeys }),
    ).toBe('ACCEPTED');
  });
});
