/**
 * Linked devices (spec/protocol.md §16): sibling sessions between two devices of one
 * account (allowed only when the caller says so, §4.5, §16.2), the content types each kind
 * of session carries, and sync copies (§16.4) — encoded strictly, refused from a peer,
 * useless when reflected to one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deterministicRandom } from '../scripts/deterministic-random.js';
import { nobleAesGcm } from '../src/aes-gcm.js';
import type { PreKeyBundle } from '../src/bundle.js';
import { concat, utf8 } from '../src/bytes.js';
import { CryptoCoreError } from '../src/errors.js';
import { generateIdentity, type IdentityKeyPair } from '../src/identity.js';
import { encodePhotoMetadata } from '../src/photo-metadata.js';
import { generatePqPreKey, generateSignedPreKey } from '../src/prekeys.js';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  isSiblingSession,
  type ResponderKeys,
  type SessionOptions,
} from '../src/session.js';
import { serializeSession } from '../src/session-codec.js';
import { MAX_BODY_BYTES } from '../src/session-limits.js';
import { decodeSync, encodeSync, MAX_SYNCABLE_BODY_BYTES } from '../src/sync.js';
import { ACC, CTX, content, enc, makeParties, opts } from './fixtures.js';

/** One device: the account's identity, its own signed and last-resort prekeys (§16.1). */
function device(identity: IdentityKeyPair, label: string) {
  const r = deterministicRandom(`devices ${label}`);
  const spk = generateSignedPreKey(identity, 1, r);
  const pq = generatePqPreKey(identity, 1, r);
  const bundle: PreKeyBundle = {
    identityKey: identity.publicKey,
    signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    pqPreKey: { kind: pq.kind, id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
  };
  const keys: ResponderKeys = { identity, signedPreKey: spk, pqPreKey: pq };
  return { bundle, keys };
}

const alice = generateIdentity(deterministicRandom('devices alice identity'));
const laptop = device(alice, 'alice laptop');
const SIB = { initiator: 'alice', responder: 'alice', sibling: true } as const;
const o: SessionOptions = { ...opts('devices'), aead: nobleAesGcm };

async function siblingPair() {
  const start = initiateSession(alice, laptop.bundle, SIB, o).session;
  const body = encodeSync({ peer: 'bob', contentType: 'text', body: enc('hi bob') });
  const first = await encryptMessage(start, 'sync', content(body, 7), o);
  const accepted = await acceptSession(
    laptop.keys,
    first.message,
    { ...SIB, isKnownBaseKey: () => false },
    o,
  );
  return { phone: first.session, laptop: accepted.session, accepted, first, body };
}

describe('sibling sessions (spec §16.2)', () => {
  it("start only with the sibling option, both ways; the default still refuses one's own key", async () => {
    expect(() =>
      initiateSession(alice, laptop.bundle, { initiator: 'alice', responder: 'alice' }, o),
    ).toThrow(expect.objectContaining({ code: 'BAD_KEY' }));
    const { phone, accepted, first, body } = await siblingPair();
    expect(isSiblingSession(phone)).toBe(true);
    expect(isSiblingSession(accepted.session)).toBe(true);
    expect(accepted.contentType).toBe('sync');
    expect(accepted.body).toEqual(body);
    expect(accepted.order).toBe(7);
    // The responder without the option: its own identity key is a reflection.
    await expect(
      acceptSession(
        laptop.keys,
        first.message,
        { initiator: 'alice', responder: 'alice', isKnownBaseKey: () => false },
        o,
      ),
    ).rejects.toMatchObject({ code: 'REFLECTED_MESSAGE' });
  });

  it('the option is refused for another account or another identity key', async () => {
    const p = makeParties('devices-sibling');
    // A "sibling" bundle under another key: the relay substituted a device key.
    expect(() =>
      initiateSession(p.alice, p.bundle, { initiator: 'alice', responder: 'alice', sibling: true }, o),
    ).toThrow(expect.objectContaining({ code: 'BAD_KEY' }));
    expect(() =>
      initiateSession(alice, laptop.bundle, { initiator: 'alice', responder: 'bob', sibling: true }, o),
    ).toThrow(expect.objectContaining({ code: 'BAD_FORMAT' }));
    expect(() => initiateSession(alice, laptop.bundle, { ...SIB, sibling: 'yes' as never }, o)).toThrow(
      expect.objectContaining({ code: 'BAD_TYPE' }),
    );
    const { session: a } = initiateSession(p.alice, p.bundle, ACC, o);
    const m = await encryptMessage(a, 'text', content(enc('x')), o);
    // Bob told that alice's message is from a sibling: her key is not his own.
    await expect(
      acceptSession(p.bobKeys, m.message, { ...CTX, initiator: 'bob', responder: 'bob', sibling: true }, o),
    ).rejects.toMatchObject({
      code: 'BAD_KEY',
    });
  });

  it('carry sync and control only; peer sessions carry no sync (CONTENT_NOT_ALLOWED)', async () => {
    const { phone, laptop: lap } = await siblingPair();
    for (const type of ['text', 'photo'] as const)
      await expect(encryptMessage(phone, type, content(enc('x')), o)).rejects.toMatchObject({
        code: 'CONTENT_NOT_ALLOWED',
      });
    const reply = await encryptMessage(lap, 'control', content(enc('ctl')), o);
    const got = await decryptMessage(phone, reply.message, o);
    expect(got.contentType).toBe('control');
    const p = makeParties('devices-peer');
    const { session: a } = initiateSession(p.alice, p.bundle, ACC, o);
    await expect(encryptMessage(a, 'sync', content(enc('x')), o)).rejects.toMatchObject({
      code: 'CONTENT_NOT_ALLOWED',
    });
  });

  it('a reflected sibling initial message is REFLECTED_MESSAGE; a repeat is DUPLICATE_MESSAGE', async () => {
    const { phone, laptop: lap, first } = await siblingPair();
    await expect(decryptMessage(phone, first.message, o)).rejects.toMatchObject({
      code: 'REFLECTED_MESSAGE',
    });
    await expect(decryptMessage(lap, first.message, o)).rejects.toMatchObject({ code: 'DUPLICATE_MESSAGE' });
    // A second initial message of the same session still opens on the responder.
    const second = await encryptMessage(
      phone,
      'sync',
      content(encodeSync({ peer: 'carol', contentType: 'text', body: enc('2') }), 8),
      o,
    );
    const r = await decryptMessage(lap, second.message, o);
    expect(decodeSync(r.body).peer).toBe('carol');
    // Its reply reflected back to the laptop is refused by direction.
    const back = await encryptMessage(
      r.session,
      'sync',
      content(encodeSync({ peer: 'bob', contentType: 'text', body: enc('3') }), 9),
      o,
    );
    await expect(decryptMessage(r.session, back.message, o)).rejects.toMatchObject({
      code: 'REFLECTED_MESSAGE',
    });
    expect((await decryptMessage(second.session, back.message, o)).contentType).toBe('sync');
  });
});

describe('attack: sync copies (spec §16.4)', () => {
  it('a peer that sends content type sync is refused after authentication, state unchanged', async () => {
    // A hostile peer (a modified client) seals a "sync" over a peer session: the receiver
    // would otherwise show a message it never sent as "sent by me".
    const p = makeParties('devices-forge');
    const { session: a } = initiateSession(p.alice, p.bundle, ACC, o);
    const hello = await encryptMessage(a, 'text', content(enc('hi')), o);
    const bob = (await acceptSession(p.bobKeys, hello.message, CTX, o)).session;
    // Forge: seal with the same ratchet but content type sync, bypassing encryptMessage's check.
    const { nextSendingKey, sealWithMessageKey } = await import('../src/ratchet.js');
    const { cloneSession } = await import('../src/session-state.js');
    const { encodeFrame } = await import('../src/content-frame.js');
    const s = cloneSession(hello.session);
    const k = nextSendingKey(s, 'sync', deterministicRandom('forge'));
    const frame = encodeFrame(
      content(encodeSync({ peer: 'carol', contentType: 'text', body: enc('lies') }), 2),
    );
    const forged = await sealWithMessageKey(s, k.messageKey, k.headerBytes, k.nonce, frame, nobleAesGcm);
    const wire = concat(s.pendingInitialHeader ?? new Uint8Array(0), forged);
    const before = serializeSession(bob);
    await expect(decryptMessage(bob, wire, o)).rejects.toMatchObject({ code: 'CONTENT_NOT_ALLOWED' });
    expect(serializeSession(bob)).toEqual(before);
  });

  it('a sync copy reflected by the relay to the peer fails to open there, state unchanged', async () => {
    // Alice's phone talks to Bob and syncs to her laptop; the relay hands the sync copy to Bob.
    const p = makeParties('devices-reflect');
    const { session: a } = initiateSession(p.alice, p.bundle, ACC, o);
    const hello = await encryptMessage(a, 'text', content(enc('hi')), o);
    const accepted = await acceptSession(p.bobKeys, hello.message, CTX, o);
    const { first, phone } = await siblingPair();
    const later = await encryptMessage(
      phone,
      'sync',
      content(encodeSync({ peer: 'bob', contentType: 'text', body: enc('x') }), 3),
      o,
    );
    const before = serializeSession(accepted.session);
    for (const copy of [first.message, later.message]) {
      await expect(decryptMessage(accepted.session, copy, o)).rejects.toMatchObject({
        code: expect.stringMatching(/SESSION_MISMATCH|AUTH_FAILED|REFLECTED_MESSAGE/),
      });
      // Run as a new session it names Bob's prekeys it does not hold or fails authentication.
      await expect(acceptSession(p.bobKeys, copy, CTX, o)).rejects.toMatchObject({
        code: expect.stringMatching(/UNKNOWN_PREKEY|AUTH_FAILED|REFLECTED_MESSAGE/),
      });
    }
    expect(serializeSession(accepted.session)).toEqual(before);
  });
});

describe('sync body encoding (spec §16.4)', () => {
  const photoBody = encodePhotoMetadata({
    photoKey: new Uint8Array(32).fill(1),
    mime: 'image/jpeg',
    byteLength: 10,
    width: 1,
    height: 1,
    ciphertextSha256: new Uint8Array(32),
    blobId: 'b1',
    thumbnail: new Uint8Array(0),
  });

  it('round-trips text and photo; layout is version ‖ len ‖ peer ‖ type ‖ body', () => {
    const t = encodeSync({ peer: 'bob', contentType: 'text', body: utf8('hé') });
    expect(Array.from(t.subarray(0, 6))).toEqual([1, 3, 0x62, 0x6f, 0x62, 1]);
    expect(decodeSync(t)).toEqual({ peer: 'bob', contentType: 'text', body: utf8('hé') });
    const ph = encodeSync({ peer: 'bob', contentType: 'photo', body: photoBody });
    expect(decodeSync(ph)).toEqual({ peer: 'bob', contentType: 'photo', body: photoBody });
  });

  it('refuses every malformed body with a typed code', () => {
    const good = encodeSync({ peer: 'bob', contentType: 'text', body: utf8('hi') });
    const edit = (i: number, v: number) => {
      const b = good.slice();
      b[i] = v;
      return b;
    };
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'accepted';
    };
    expect(code(() => decodeSync(edit(0, 2)))).toBe('UNSUPPORTED_VERSION');
    expect(code(() => decodeSync(edit(1, 0)))).toBe('BAD_FORMAT');
    expect(code(() => decodeSync(edit(1, 65)))).toBe('BAD_FORMAT');
    expect(code(() => decodeSync(edit(2, 0x42)))).toBe('BAD_FORMAT'); // 'Bob': not canonical
    expect(code(() => decodeSync(edit(2, 0x20)))).toBe('BAD_FORMAT'); // ' ob': not a username
    for (const t of [0, 3, 4]) expect(code(() => decodeSync(edit(5, t)))).toBe('BAD_FORMAT');
    for (let n = 0; n < 6; n++) expect(code(() => decodeSync(good.subarray(0, n)))).toBe('BAD_FORMAT');
    expect(code(() => decodeSync(concat(good.subarray(0, 6), Uint8Array.of(0xff))))).toBe('BAD_FORMAT'); // not UTF-8
    // A photo inner body must parse: trailing byte, v2 photo message.
    const ph = encodeSync({ peer: 'bob', contentType: 'photo', body: photoBody });
    expect(code(() => decodeSync(concat(ph, Uint8Array.of(0))))).toBe('BAD_FORMAT');
    const v2 = ph.slice();
    v2[6] = 2;
    expect(code(() => decodeSync(v2))).toBe('UNSUPPORTED_VERSION');
    expect(code(() => decodeSync(new Uint8Array(MAX_BODY_BYTES + 1)))).toBe('BAD_FORMAT');
    expect(code(() => encodeSync({ peer: 'Bob', contentType: 'text', body: utf8('x') }))).toBe('BAD_FORMAT');
    expect(code(() => encodeSync({ peer: 'bob', contentType: 'sync' as never, body: utf8('x') }))).toBe(
      'BAD_TYPE',
    );
    expect(code(() => encodeSync({ peer: 'bob', contentType: 'photo', body: utf8('x') }))).toBe(
      'UNSUPPORTED_VERSION',
    ); // 'x' = version 0x78
    expect(code(() => encodeSync({ peer: 'bob', contentType: 'photo', body: Uint8Array.of(3) }))).toBe(
      'BAD_FORMAT',
    );
    const longest = 'x'.repeat(64);
    const fits = encodeSync({
      peer: longest,
      contentType: 'text',
      body: new Uint8Array(MAX_SYNCABLE_BODY_BYTES),
    });
    expect(fits.length).toBe(MAX_BODY_BYTES);
    expect(
      code(() =>
        encodeSync({ peer: longest, contentType: 'text', body: new Uint8Array(MAX_SYNCABLE_BODY_BYTES + 1) }),
      ),
    ).toBe('BAD_LENGTH');
  });
});

describe('attack: a version 2 photo message (spec §10.4)', () => {
  // The 'small' photo message of spec/vectors/photo.json before version 3: its key was
  // derived from the carrying message's key, which a v3 receiver no longer has.
  const v2 = Buffer.from(
    '0201000000c8028001e06570d0f5403993fe11fd2fc814a51a39124f0371399c604d2f44c228afe2a84a0a626c6f622d736d616c6c0008ffd8ff6483a2c1e0',
    'hex',
  );

  it('is refused as UNSUPPORTED_VERSION, alone, inside a photo message from a peer and inside a sync copy', async () => {
    const { decodePhotoMetadata } = await import('../src/photo-metadata.js');
    expect(() => decodePhotoMetadata(new Uint8Array(v2))).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }),
    );
    // A peer (or an old client) sends it as a photo message: it decrypts (the ratchet does not
    // parse bodies) and the photo layer refuses it.
    const p = makeParties('devices-v2-photo');
    const { session: a } = initiateSession(p.alice, p.bundle, ACC, o);
    const sent = await encryptMessage(a, 'photo', content(new Uint8Array(v2)), o);
    const got = await acceptSession(p.bobKeys, sent.message, CTX, o);
    expect(got.contentType).toBe('photo');
    expect(() => decodePhotoMetadata(got.body)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }),
    );
    // No sync copy can carry it either.
    expect(() => encodeSync({ peer: 'bob', contentType: 'photo', body: new Uint8Array(v2) })).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }),
    );
    const forged = concat(Uint8Array.of(1, 3), enc('bob'), Uint8Array.of(2), new Uint8Array(v2));
    expect(() => decodeSync(forged)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }));
  });
});

describe('sync bodies: properties', () => {
  const username = fc.stringMatching(/^[a-z0-9_]{1,64}$/);
  it('round-trip any canonical peer and text; any random bytes decode only to what re-encodes to them', () => {
    fc.assert(
      fc.property(username, fc.string({ maxLength: 300 }), (peer, text) => {
        const body = utf8(text);
        const bytes = encodeSync({ peer, contentType: 'text', body });
        expect(decodeSync(bytes)).toEqual({ peer, contentType: 'text', body });
        for (let n = 0; n < 3 + utf8(peer).length; n++)
          expect(() => decodeSync(bytes.subarray(0, n))).toThrow(CryptoCoreError);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          const s = decodeSync(bytes);
          expect(encodeSync(s)).toEqual(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(CryptoCoreError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('hostile inputs: devices exports', () => {
  const typed = async (f: () => unknown) => {
    try {
      await f();
    } catch (e) {
      expect(e).toBeInstanceOf(CryptoCoreError);
      return;
    }
    throw new Error('accepted a hostile input');
  };
  const junk: unknown[] = [undefined, null, 0, 'x', {}, [], new Uint8Array(3), () => 1];

  it('every sync and provisioning function fails with a CryptoCoreError, never a TypeError', async () => {
    const prov = await import('../src/provisioning.js');
    const req = prov.createLinkRequest(deterministicRandom('devices hostile'));
    const link = { address: new Uint8Array(16), xPk: req.xPk, ekHash: req.ekHash };
    for (const j of junk) {
      await typed(() => encodeSync(j as never));
      await typed(() => decodeSync(j as never));
      if (j !== 'x') await typed(() => encodeSync({ peer: j, contentType: 'text', body: enc('x') } as never));
      if (!(j instanceof Uint8Array))
        await typed(() => encodeSync({ peer: 'bob', contentType: 'text', body: j } as never));
      if (j !== undefined) await typed(() => prov.createLinkRequest(j as never)); // undefined: the CSPRNG
      await typed(() => prov.encodeLinkUri(j as never));
      await typed(() => prov.encodeLinkUri({ ...link, xPk: j } as never));
      await typed(() => prov.decodeLinkUri(j as never));
      await typed(() => prov.encodeProvisioningAddress(j as never));
      await typed(() => prov.decodeProvisioningAddress(j as never));
      await typed(() => prov.linkKeyHash(j as never));
      await typed(() => prov.sealProvisioning(j as never, req.ek, enc('x')));
      await typed(() => prov.sealProvisioning(link, j as never, enc('x')));
      if (!(j instanceof Uint8Array)) await typed(() => prov.sealProvisioning(link, req.ek, j as never));
      await typed(() => prov.openProvisioning(j as never, link, new Uint8Array(2000)));
      await typed(() => prov.openProvisioning({ ...req.secret, dk: j } as never, link, new Uint8Array(2000)));
      await typed(() => prov.openProvisioning(req.secret, j as never, new Uint8Array(2000)));
      await typed(() => prov.openProvisioning(req.secret, link, j as never));
    }
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 1400 }),
        fc.string({ maxLength: 140 }),
        async (bytes, s) => {
          await typed(() => prov.openProvisioning(req.secret, link, bytes));
          try {
            const l = prov.decodeLinkUri(`securedrop-link:${s}`);
            expect(prov.encodeLinkUri(l)).toBe(`securedrop-link:${s}`);
          } catch (e) {
            expect(e).toBeInstanceOf(CryptoCoreError);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
