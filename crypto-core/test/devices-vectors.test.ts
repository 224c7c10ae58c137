/**
 * spec/vectors/devices.json (spec/protocol.md §14.4): rebuilt and compared byte for byte;
 * the provisioning message recomputed from the listed values with @noble only (X25519,
 * ML-KEM-768, HKDF-SHA-256, AES-256-GCM) and §16.7's layout — no crypto-core code — then
 * opened by openProvisioning; the link URI decoded; the sync copies parsed.
 */
import { readFileSync } from 'node:fs';
import { gcm } from '@noble/ciphers/aes.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';
import { devicesVectors } from '../scripts/devices-vectors.js';
import { decodeLinkUri, openProvisioning } from '../src/provisioning.js';
import { decodeSync } from '../src/sync.js';
import { hex, unhex } from './fixtures.js';

const file = new URL('../../spec/vectors/devices.json', import.meta.url);
const v = JSON.parse(readFileSync(file, 'utf8'));
const p = v.provisioning;
const utf8 = (s: string) => new TextEncoder().encode(s);

describe('spec/vectors/devices.json', () => {
  it('is exactly what the generator produces', async () => {
    expect(JSON.parse(JSON.stringify(await devicesVectors()))).toEqual(v);
  });

  it('provisioning: an independent recomputation from §16.7 gives the stored message', () => {
    const xPk = unhex(p.newDevice.xPk);
    expect(hex(x25519.getPublicKey(unhex(p.newDevice.xSk)))).toBe(p.newDevice.xPk);
    expect(hex(sha256(unhex(p.newDevice.ek)))).toBe(p.newDevice.ekHash);
    // The QR: prefix ‖ base64url(0x01 ‖ address ‖ x_pk ‖ SHA-256(ek)).
    const raw = Buffer.from(p.linkUri.slice('securedrop-link:'.length), 'base64url');
    expect(raw.toString('hex')).toBe(`01${p.address}${p.newDevice.xPk}${p.newDevice.ekHash}`);
    const eSk = unhex(p.sealerDraws.e);
    const ePk = x25519.getPublicKey(eSk);
    const dh = x25519.getSharedSecret(eSk, xPk);
    const enc = ml_kem768.encapsulate(unhex(p.newDevice.ek), unhex(p.sealerDraws.m));
    expect([hex(ePk), hex(dh), hex(enc.cipherText), hex(enc.sharedSecret)]).toEqual([
      p.ePk,
      p.dh,
      p.kemCiphertext,
      p.kemSharedSecret,
    ]);
    const info = new Uint8Array([
      ...utf8('SecureDrop_Provisioning_v2'),
      ...unhex(p.address),
      ...xPk,
      ...ePk,
      ...unhex(p.newDevice.ekHash),
    ]);
    expect(hex(info)).toBe(p.hkdfInfo);
    const key = hkdf(sha256, new Uint8Array([...dh, ...enc.sharedSecret]), new Uint8Array(32), info, 32);
    const header = new Uint8Array([1, ...ePk, ...enc.cipherText, ...unhex(p.sealerDraws.nonce)]);
    expect(header).toHaveLength(1133);
    const sealed = gcm(key, unhex(p.sealerDraws.nonce), header).encrypt(utf8(p.payloadUtf8));
    expect(hex(new Uint8Array([...header, ...sealed]))).toBe(p.message);
    // The new device, with the decapsulation key from its listed keygen seed (d ‖ z).
    const dk = ml_kem768.keygen(unhex(p.newDevice.draws[1])).secretKey;
    expect(hex(ml_kem768.decapsulate(enc.cipherText, dk))).toBe(p.kemSharedSecret);
  });

  it('provisioning: crypto-core opens the stored message; the URI decodes to the link', async () => {
    const link = decodeLinkUri(p.linkUri);
    expect(hex(link.address)).toBe(p.address);
    const dk = ml_kem768.keygen(unhex(p.newDevice.draws[1])).secretKey;
    const payload = await openProvisioning({ xSk: unhex(p.newDevice.xSk), dk }, link, unhex(p.message));
    expect(new TextDecoder().decode(payload)).toBe(p.payloadUtf8);
  });

  it('sibling session: the sync copies carry content type 0x04 and decode to what was synced', () => {
    for (const m of v.sibling.messages) {
      expect(m.decrypted.contentType).toBe('sync');
      expect(m.decrypted.body).toBe(m.syncBody);
      const s = decodeSync(unhex(m.syncBody));
      expect([s.peer, s.contentType, hex(s.body)]).toEqual([m.sync.peer, m.sync.contentType, m.sync.body]);
      // Initial or ratchet message: the envelope's content type byte is 0x04 either way.
      const wire = unhex(m.wire);
      const envelopeAt = wire[1] === 0x01 ? 1165 : 0;
      expect(wire[envelopeAt + 3]).toBe(0x04);
    }
    // Both identity keys of the handshake are the account's one key (§16.2).
    const first = unhex(v.sibling.messages[0].wire);
    expect(hex(first.subarray(3, 35))).toBe(v.sibling.identityKey);
  });
});

describe('spec/provisioning.schema.json', () => {
  const schema = JSON.parse(
    readFileSync(new URL('../../spec/provisioning.schema.json', import.meta.url), 'utf8'),
  );
  it('the vector payload has exactly the fields the schema allows, each of the stated form', () => {
    const payload = JSON.parse(p.payloadUtf8);
    expect(Object.keys(payload).sort()).toEqual(Object.keys(schema.properties).sort());
    for (const k of schema.required) expect(payload).toHaveProperty(k);
    const b64 = new RegExp(schema.$defs.Base64Of32.pattern);
    const name = new RegExp(schema.$defs.Username.pattern);
    expect(payload.identity_seed).toMatch(b64);
    expect(payload.username).toMatch(name);
    for (const c of payload.contacts) {
      // Every required field, and no other than the schema's (refused_keys is optional).
      for (const k of schema.$defs.Contact.required) expect(c).toHaveProperty(k);
      expect(Object.keys(schema.$defs.Contact.properties)).toEqual(expect.arrayContaining(Object.keys(c)));
      expect(c.identity_key).toMatch(b64);
    }
    for (const h of payload.history)
      expect(Object.keys(h).sort()).toEqual(Object.keys(schema.$defs.HistoryMessage.properties).sort());
    // The seed in the payload is the account's (the new device derives IK from it, §16.8).
    expect(Buffer.from(payload.identity_seed, 'base64').toString('hex')).toBe(v.sibling.identitySeed);
  });
});

describe('spec/vectors/devices.json rejections', () => {
  it('every case fails with its code', async () => {
    const { acceptSession, decryptMessage } = await import('../src/session.js');
    const { deserializeSession } = await import('../src/session-codec.js');
    const { sealProvisioning } = await import('../src/provisioning.js');
    const { generateIdentity } = await import('../src/identity.js');
    const alice = generateIdentity(() => unhex(v.sibling.identitySeed)); // §4.1: IK from the seed
    const { decodeBundle } = await import('../src/bundle.js');
    const link = decodeLinkUri(p.linkUri);
    const secret = {
      xSk: unhex(p.newDevice.xSk),
      dk: ml_kem768.keygen(unhex(p.newDevice.draws[1])).secretKey,
    };
    const device2State = deserializeSession(unhex(v.sibling.device2SessionAfterFirst));
    // Device 2's secrets are not in the file: the cases that need them fail before they are used.
    const bundle = decodeBundle(unhex(v.sibling.device2.bundle));
    const keys = {
      identity: alice,
      signedPreKey: { ...bundle.signedPreKey, secretKey: new Uint8Array(32) },
      pqPreKey: { ...bundle.pqPreKey, secretKey: new Uint8Array(2400) },
    };
    const run: Record<string, (input: string) => Promise<unknown>> = {
      'accept-without-sibling': (i) =>
        acceptSession(keys, unhex(i), {
          initiator: 'alice',
          responder: 'alice',
          isKnownBaseKey: () => false,
        }),
      'device2-after-first': (i) => decryptMessage(device2State, unhex(i)),
      'link-uri': async (i) => decodeLinkUri(i),
      'seal-with-ek': (i) => sealProvisioning(link, unhex(i), utf8('x')),
      open: (i) => openProvisioning(secret, link, unhex(i)),
      'open-other-address': (i) => {
        const address = link.address.slice();
        address[0] = ((address[0] as number) + 1) & 0xff;
        return openProvisioning(secret, { ...link, address }, unhex(i));
      },
      'sync-body': async (i) => decodeSync(unhex(i)),
    };
    expect(v.rejections.length).toBeGreaterThanOrEqual(14);
    for (const c of v.rejections) {
      const f = run[c.check];
      if (f === undefined) throw new Error(`unknown check ${c.check}`);
      await expect(f(c.input), c.name).rejects.toMatchObject({ code: c.expected });
    }
    // The state is untouched by the refused relabelled copy: the real one still opens.
    const r = await decryptMessage(device2State, unhex(v.sibling.messages[1].wire));
    expect(hex(r.body)).toBe(v.sibling.messages[1].syncBody);
  });
});
