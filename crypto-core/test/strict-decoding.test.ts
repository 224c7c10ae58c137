// Two strictness rules found by an audit against the spec: a skipped message key older than
// MAX_SKIPPED_KEY_AGE_MS opens nothing even when nothing arrived since (§12), and UTF-8 is
// decoded one-to-one, a leading byte-order mark kept (§3), so a peer name or blob id with one
// is not read as the canonical string without it.
import { describe, expect, it } from 'vitest';
import { decodePhotoMetadata, encodePhotoMetadata } from '../src/photo-metadata.js';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  type SessionState,
} from '../src/session.js';
import { MAX_SKIPPED_KEY_AGE_MS } from '../src/session-limits.js';
import { decodeSync, encodeSync } from '../src/sync.js';
import { ACC, CTX, content, enc, makeParties, opts } from './fixtures.js';

describe('skipped keys past MAX_SKIPPED_KEY_AGE_MS (spec §12)', () => {
  it('attack: a message the relay held back is not readable 31 days later because the session went quiet', async () => {
    const p = makeParties('skipped age');
    let now = 1_000_000;
    const clock = () => now;
    let a: SessionState = initiateSession(p.alice, p.bundle, ACC, opts('sa')).session;
    const m: Uint8Array[] = [];
    for (let i = 0; i < 2; i++) {
      const out = await encryptMessage(a, 'text', content(enc(`m${i}`), i + 1), opts(`sa${i}`));
      a = out.session;
      m.push(out.message);
    }
    // The relay holds m0 back and delivers m1: Bob keeps m0's key from now on.
    const b = await acceptSession(p.bobKeys, m[1] as Uint8Array, CTX, opts('sb', clock));
    expect(b.session.skippedKeys).toHaveLength(1);
    // Within the bound it opens…
    now += MAX_SKIPPED_KEY_AGE_MS - 1000;
    await expect(decryptMessage(b.session, m[0] as Uint8Array, opts('sc', clock))).resolves.toBeDefined();
    // …past it, it does not, though nothing else arrived meanwhile.
    now += 2 * 24 * 3600 * 1000;
    await expect(decryptMessage(b.session, m[0] as Uint8Array, opts('sd', clock))).rejects.toMatchObject({
      code: 'DUPLICATE_MESSAGE',
    });
  });
});

describe('UTF-8 is decoded one-to-one (spec §3)', () => {
  it('a sync body whose peer is EF BB BF "bob" is not read as "bob"', () => {
    const good = encodeSync({ peer: 'bob', contentType: 'text', body: enc('hi') });
    const bom = Uint8Array.of(0x01, 6, 0xef, 0xbb, 0xbf, ...enc('bob'), 0x01, ...enc('hi'));
    expect(decodeSync(good).peer).toBe('bob');
    expect(() => decodeSync(bom)).toThrow(expect.objectContaining({ code: 'BAD_FORMAT' }));
  });

  it('a photo message whose blob id starts with a byte-order mark is refused', () => {
    const ok = encodePhotoMetadata({
      photoKey: new Uint8Array(32),
      mime: 'image/jpeg',
      byteLength: 10,
      width: 1,
      height: 1,
      ciphertextSha256: new Uint8Array(32),
      blobId: 'abc',
      thumbnail: new Uint8Array(0),
    });
    const at = 1 + 32 + 1 + 4 + 2 + 2 + 32; // the blob id's length byte
    const bom = new Uint8Array([...ok.subarray(0, at), 6, 0xef, 0xbb, 0xbf, ...enc('abc'), 0, 0]);
    expect(decodePhotoMetadata(ok).blobId).toBe('abc');
    expect(() => decodePhotoMetadata(bom)).toThrow(expect.objectContaining({ code: 'BAD_FORMAT' }));
  });
});
