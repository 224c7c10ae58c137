/**
 * Photos over a session (spec/protocol.md §10, version 3): Alice encrypts a photo under a
 * fresh random photo key, uploads the blob once, and sends the photo message — key,
 * digest, blob id — as an ordinary ratchet message of content type `photo`. Bob's
 * decryptMessage returns the photo message and nothing else (no message key leaves
 * crypto-core); the key in it opens the blob, and a blob announced by one photo message
 * does not open under another's key.
 */
import { describe, expect, it } from 'vitest';
import { concat } from '../src/bytes.js';
import { decryptPhoto, encryptPhoto, generatePhotoKey } from '../src/photo.js';
import { decodePhotoMetadata, encodePhotoMetadata } from '../src/photo-metadata.js';
import { acceptSession, decryptMessage, encryptMessage, initiateSession } from '../src/session.js';
import { ACC, CTX, content, enc, makeParties, opts } from './fixtures.js';

describe('photos over a session', () => {
  it('a photo message carries what opens its blob, and only its blob', async () => {
    const p = makeParties('photo-session');
    const o = opts('photo-session');
    let { session: alice } = initiateSession(p.alice, p.bundle, ACC, o);
    const hello = await encryptMessage(alice, 'text', content(enc('hi')), o);
    alice = hello.session;
    let bob = (await acceptSession(p.bobKeys, hello.message, CTX, o)).session;

    const jpeg = concat(Uint8Array.of(0xff, 0xd8, 0xff), new Uint8Array(40_000).fill(7));
    const blobs: Uint8Array[] = [];
    const messages: Uint8Array[] = [];
    for (const [i, photo] of [jpeg, concat(jpeg, Uint8Array.of(1))].entries()) {
      const photoKey = generatePhotoKey(o.random);
      const sealed = await encryptPhoto(photoKey, photo);
      blobs.push(sealed.ciphertext);
      const body = encodePhotoMetadata({
        photoKey,
        mime: 'image/jpeg',
        byteLength: sealed.byteLength,
        width: 10,
        height: 20,
        ciphertextSha256: sealed.ciphertextSha256,
        blobId: `blob-${i}`,
        thumbnail: new Uint8Array(0),
      });
      const sent = await encryptMessage(
        alice,
        'photo',
        { body, sentAt: 1_767_225_600_000 + i, order: 2 + i },
        o,
      );
      alice = sent.session;
      messages.push(sent.message);
    }

    const opened: ReturnType<typeof decodePhotoMetadata>[] = [];
    for (const m of messages) {
      const got = await decryptMessage(bob, m, o);
      bob = got.session;
      expect(got.contentType).toBe('photo');
      expect(got.order).toBe(2 + opened.length);
      expect(Object.keys(got).sort()).toEqual(['body', 'contentType', 'order', 'sentAt', 'session']);
      opened.push(decodePhotoMetadata(got.body));
    }
    const [first, second] = opened;
    if (!first || !second) throw new Error('unreachable');
    expect(first.photoKey).not.toEqual(second.photoKey);
    expect(await decryptPhoto(first.photoKey, first, blobs[0] as Uint8Array)).toEqual(jpeg);
    // The second message's key, with the first blob passed off under the second's metadata.
    const forged = {
      ...second,
      byteLength: first.byteLength,
      ciphertextSha256: first.ciphertextSha256,
    };
    await expect(decryptPhoto(second.photoKey, forged, blobs[0] as Uint8Array)).rejects.toMatchObject({
      code: 'AUTH_FAILED',
    });
  });
});
