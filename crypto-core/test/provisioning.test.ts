/**
 * Linking a device (spec/protocol.md §16.6–§16.7): the link URI and the provisioning
 * cipher. Round trips, every parse/refuse path, and the attacks: a relay that substitutes
 * the ML-KEM key at GET /provisioning, a message opened by the wrong link, tampering.
 */

import { x25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deterministicRandom } from '../scripts/deterministic-random.js';
import { nobleAesGcm } from '../src/aes-gcm.js';
import { concat } from '../src/bytes.js';
import {
  createLinkRequest,
  decodeLinkUri,
  decodeProvisioningAddress,
  encodeLinkUri,
  encodeProvisioningAddress,
  LINK_URI_LENGTH,
  LINK_URI_PREFIX,
  type LinkInfo,
  linkKeyHash,
  MAX_PROVISIONING_BYTES,
  MAX_PROVISIONING_PAYLOAD_BYTES,
  openProvisioning,
  PROVISIONING_HEADER_BYTES,
  sealProvisioning,
} from '../src/provisioning.js';
import { byBackend } from './util/backends.js';

const req = createLinkRequest(deterministicRandom('provisioning test'));
const address = new Uint8Array(16).map((_, i) => i * 7);
const link: LinkInfo = { address, xPk: req.xPk, ekHash: req.ekHash };
const payload = new TextEncoder().encode('{"v":1,"username":"alice"}');

const code = async (f: () => unknown) => {
  try {
    await f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'accepted';
};

describe('link request and URI (spec §16.6)', () => {
  it('keys are consistent: ekHash = SHA-256(ek), xPk = X25519(xSk), dk holds ek', () => {
    expect(req.ekHash).toEqual(sha256(req.ek));
    expect(linkKeyHash(req.ek)).toEqual(req.ekHash);
    expect(x25519.getPublicKey(req.secret.xSk)).toEqual(req.xPk);
    expect(req.secret.dk.subarray(1152, 2336)).toEqual(req.ek);
    expect(req.ek).toHaveLength(1184);
    expect(req.secret.dk).toHaveLength(2400);
  });

  it('round-trips: 81 bytes, 124 characters, the stated layout', () => {
    const uri = encodeLinkUri(link);
    expect(uri).toHaveLength(LINK_URI_LENGTH);
    expect(uri).toHaveLength(124);
    expect(uri.startsWith(LINK_URI_PREFIX)).toBe(true);
    const raw = Buffer.from(uri.slice(LINK_URI_PREFIX.length), 'base64url');
    expect(raw).toHaveLength(81);
    expect(raw[0]).toBe(1);
    expect(new Uint8Array(raw.subarray(1, 17))).toEqual(address);
    expect(new Uint8Array(raw.subarray(17, 49))).toEqual(req.xPk);
    expect(new Uint8Array(raw.subarray(49))).toEqual(req.ekHash);
    expect(decodeLinkUri(uri)).toEqual(link);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (a, h) => {
          const l = { address: a, xPk: req.xPk, ekHash: h };
          expect(decodeLinkUri(encodeLinkUri(l))).toEqual(l);
          expect(decodeProvisioningAddress(encodeProvisioningAddress(a))).toEqual(a);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses every malformed URI with a typed code', async () => {
    const uri = encodeLinkUri(link);
    const body = uri.slice(LINK_URI_PREFIX.length);
    const raw = new Uint8Array(Buffer.from(body, 'base64url'));
    const withRaw = (b: Uint8Array) => LINK_URI_PREFIX + Buffer.from(b).toString('base64url');
    expect(await code(() => decodeLinkUri(uri.slice(0, -1)))).toBe('BAD_FORMAT'); // truncated
    expect(await code(() => decodeLinkUri(withRaw(raw.subarray(0, 78))))).toBe('BAD_FORMAT');
    expect(await code(() => decodeLinkUri(withRaw(concat(raw, Uint8Array.of(0, 0, 0)))))).toBe('BAD_FORMAT'); // trailing
    expect(await code(() => decodeLinkUri(`${uri}A`))).toBe('BAD_FORMAT');
    expect(await code(() => decodeLinkUri(`${uri}=`))).toBe('BAD_FORMAT');
    expect(await code(() => decodeLinkUri(uri.replace('securedrop-link:', 'securedrop-lnk:')))).toBe(
      'BAD_FORMAT',
    );
    expect(await code(() => decodeLinkUri(uri.toUpperCase()))).toMatch(/BAD_FORMAT|UNSUPPORTED_VERSION/);
    expect(await code(() => decodeLinkUri(`${LINK_URI_PREFIX}${body.slice(0, 10)}+${body.slice(11)}`))).toBe(
      'BAD_FORMAT',
    ); // base64, not base64url
    for (const v of [0, 2, 0xff]) {
      const b = raw.slice();
      b[0] = v;
      expect(await code(() => decodeLinkUri(withRaw(b)))).toBe('UNSUPPORTED_VERSION');
    }
    const bad = raw.slice();
    bad.set(new Uint8Array(32).fill(0xff), 17); // x_pk not canonical
    expect(await code(() => decodeLinkUri(withRaw(bad)))).toBe('BAD_KEY');
    expect(await code(() => decodeLinkUri(42 as never))).toBe('BAD_TYPE');
    expect(await code(() => decodeLinkUri('x'.repeat(10_000)))).toBe('BAD_FORMAT');
    expect(await code(() => decodeProvisioningAddress('A'.repeat(21)))).toBe('BAD_FORMAT');
    expect(await code(() => decodeProvisioningAddress(`${'A'.repeat(21)}B`))).toBe('BAD_FORMAT'); // stray low bits
    expect(await code(() => encodeLinkUri({ ...link, address: new Uint8Array(15) }))).toBe('BAD_LENGTH');
  });
});

describe('provisioning cipher (spec §16.7)', () => {
  it.each(byBackend)('round-trips on both AES-GCM backends (%s), with the stated layout', async (_, aes) => {
    const message = await sealProvisioning(link, req.ek, payload, { aead: aes });
    expect(message).toHaveLength(PROVISIONING_HEADER_BYTES + payload.length + 16);
    expect(PROVISIONING_HEADER_BYTES).toBe(1133);
    expect(message[0]).toBe(1);
    expect(await openProvisioning(req.secret, link, message, { aead: aes })).toEqual(payload);
    // Fresh randomness each time: two seals differ.
    expect(await sealProvisioning(link, req.ek, payload)).not.toEqual(message);
  });

  it('round-trips any payload (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (p) => {
        const m = await sealProvisioning(link, req.ek, p);
        expect(await openProvisioning(req.secret, link, m)).toEqual(p);
      }),
      { numRuns: 15 },
    );
  });

  it('attack: a relay that substitutes the ML-KEM key at GET /provisioning — the sealer refuses', async () => {
    // The relay keeps its own ML-KEM pair and hands out its ek instead of the new device's.
    const relay = ml_kem768.keygen(new Uint8Array(64).fill(9));
    expect(await code(() => sealProvisioning(link, relay.publicKey, payload))).toBe('BAD_KEY');
    // Also a key of the wrong size, and the right key with one bit flipped.
    expect(await code(() => sealProvisioning(link, req.ek.subarray(0, 1183), payload))).toBe('BAD_KEY');
    const flipped = req.ek.slice();
    flipped[100] = (flipped[100] as number) ^ 1;
    expect(await code(() => sealProvisioning(link, flipped, payload))).toBe('BAD_KEY');
  });

  it('a message opens only with its own link: wrong address, x_pk, ek hash or secrets', async () => {
    const message = await sealProvisioning(link, req.ek, payload);
    const other = createLinkRequest(deterministicRandom('provisioning other'));
    const otherAddress = address.slice();
    otherAddress[0] = (otherAddress[0] as number) ^ 1;
    expect(await code(() => openProvisioning(req.secret, { ...link, address: otherAddress }, message))).toBe(
      'AUTH_FAILED',
    );
    expect(await code(() => openProvisioning(req.secret, { ...link, xPk: other.xPk }, message))).toBe(
      'AUTH_FAILED',
    );
    expect(await code(() => openProvisioning(req.secret, { ...link, ekHash: other.ekHash }, message))).toBe(
      'BAD_KEY',
    );
    expect(await code(() => openProvisioning(other.secret, link, message))).toBe('BAD_KEY');
    expect(await code(() => openProvisioning({ ...req.secret, xSk: other.secret.xSk }, link, message))).toBe(
      'AUTH_FAILED',
    );
  });

  it('refuses truncation, trailing bytes, wrong version, tampering and oversize with typed codes', async () => {
    const message = await sealProvisioning(link, req.ek, payload, { aead: nobleAesGcm });
    for (const n of [0, 1, 33, 1121, 1133, 1148])
      expect(await code(() => openProvisioning(req.secret, link, message.subarray(0, n)))).toBe('BAD_FORMAT');
    expect(await code(() => openProvisioning(req.secret, link, concat(message, Uint8Array.of(0))))).toBe(
      'AUTH_FAILED',
    ); // a trailing byte is part of the tag region: authentication fails
    for (const v of [0, 2]) {
      const m = message.slice();
      m[0] = v;
      expect(await code(() => openProvisioning(req.secret, link, m))).toBe('UNSUPPORTED_VERSION');
    }
    // Every region: e_pk, KEM ciphertext, nonce, ciphertext, tag.
    for (const at of [1, 40, 1121, 1130, 1140, message.length - 1]) {
      const m = message.slice();
      m[at] = (m[at] as number) ^ 0x01;
      expect(await code(() => openProvisioning(req.secret, link, m))).toMatch(/AUTH_FAILED|BAD_KEY/);
    }
    const nonCanonical = message.slice();
    nonCanonical.set(new Uint8Array(32).fill(0xff), 1);
    expect(await code(() => openProvisioning(req.secret, link, nonCanonical))).toBe('BAD_KEY');
    expect(
      await code(() => openProvisioning(req.secret, link, new Uint8Array(MAX_PROVISIONING_BYTES + 1))),
    ).toBe('BAD_FORMAT');
    expect(MAX_PROVISIONING_PAYLOAD_BYTES).toBe(8 * 1024 * 1024 - 1149);
    expect(
      await code(() => sealProvisioning(link, req.ek, new Uint8Array(MAX_PROVISIONING_PAYLOAD_BYTES + 1))),
    ).toBe('BAD_LENGTH');
    expect(await code(() => sealProvisioning(link, req.ek, 'payload' as never))).toBe('BAD_TYPE');
    expect(await code(() => openProvisioning(null as never, link, message))).toBe('BAD_TYPE');
  });

  it('the largest payload seals to exactly MAX_PROVISIONING_BYTES and opens', async () => {
    const big = new Uint8Array(MAX_PROVISIONING_PAYLOAD_BYTES).fill(0x41);
    const m = await sealProvisioning(link, req.ek, big);
    expect(m.length).toBe(MAX_PROVISIONING_BYTES);
    expect((await openProvisioning(req.secret, link, m)).length).toBe(big.length);
  });
});
