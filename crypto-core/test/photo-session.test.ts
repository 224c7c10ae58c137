/**
 * The photo boundary with the ratchet (spec/protocol.md §10): Alice encrypts a photo inside
 * encryptPhotoMessage with the message key and header the session hands her; Bob's
 * decryptMessage returns the same key and header, which open the blob. A blob announced
 * by one photo message does not open under another's key and header.
 */
import { describe, expect, it } from 'vitest';
import { concat } from '../src/bytes.js';
import { decryptPhoto, encryptPhoto } from '../src/photo.js';
import { decodePhotoMetadata, encodePhotoMetadata } from '../src/photo-metadata.js';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  encryptPhotoMessage,
  initiateSession,
} from '../src/session.js';
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
      const sent = await encryptPhotoMessage(
        alice,
        async ({ messageKey, header }) => {
          const sealed = await encryptPhoto(messageKey, header, photo);
          blobs.push(sealed.ciphertext);
          return encodePhotoMetadata({
            mime: 'image/jpeg',
            byteLength: sealed.byteLength,
            width: 10,
            height: 20,
            ciphertextSha256: sealed.ciphertextSha256,
            blobId: `blob-${i}`,
            thumbnail: new Uint8Array(0),
          });
        },
        { sentAt: 1_767_225_600_000 + i, order: 2 + i },
        o,
      );
      alice = sent.session;
      messages.push(sent.message);
    }

    const opened: {
      meta: ReturnType<typeof decodePhotoMetadata>;
      messageKey: Uint8Array;
      header: Uint8Array;
    }[] = [];
    for (const m of messages) {
      const got = await decryptMessage(bob, m, o);
      bob = got.session;
      expect(got.contentType).toBe('photo');
      expect(got.order).toBe(2 + opened.length);
      if (!got.messageKey || !got.header) throw new Error('photo message without key');
      opened.push({
        meta: decodePhotoMetadata(got.body),
        messageKey: got.messageKey,
        header: got.header,
      });
    }
    const [first, second] = opened;
    if (!first || !second) throw new Error('unreachable');
    expect(await decryptPhoto(first.messageKey, first.header, first.meta, blobs[0] as Uint8Array)).toEqual(
      jpeg,
    );
    // The second message's key and header, with the first blob passed off under the second's metadata.
    const forged = {
      ...second.meta,
      byteLength: first.meta.byteLength,
      ciphertextSha256: first.meta.ciphertextSha256,
    };
    await expect(
      decryptPhoto(second.messageKey, second.header, forged, blobs[0] as Uint8Array),
    ).rejects.toMatchObject({
      code: 'AUTH_FAILED',
    });
  });
});
