// The WebCrypto shortcuts of the ratchet's DH step (x25519-backend.ts): a key pair imported
// as a JWK {d, x}, and a fresh pair generated natively when the randomness is the system's.
// Both must give exactly noble's bytes, fall back (never fail differently) when handed a
// wrong public half, and keep the degenerate-key rule (BAD_KEY) of spec §7.4.
import { x25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { deterministicRandom } from '../scripts/deterministic-random.js';
import { dh, dhWith } from '../src/dh.js';
import { CryptoCoreError } from '../src/errors.js';
import { acceptSession, decryptMessage, encryptMessage, initiateSession } from '../src/session.js';
import {
  nobleX25519,
  webCryptoFreshKeyPair,
  webCryptoKeyPairSharedSecret,
  webCryptoX25519,
  type X25519Backend,
} from '../src/x25519-backend.js';
import { ACC, CTX, content, enc, hex, makeParties } from './fixtures.js';
import { loadWycheproof, hex as unhex } from './util/wycheproof.js';

describe('WebCrypto X25519 with the key pair imported as JWK', () => {
  it('matches noble on random keys, and a wrong public half only loses the shortcut', async () => {
    const r = deterministicRandom('jwk pairs');
    for (let i = 0; i < 16; i++) {
      const secret = r(32);
      const peer = x25519.getPublicKey(r(32));
      const expected = hex(x25519.getSharedSecret(secret, peer));
      const fast = await webCryptoKeyPairSharedSecret(secret, x25519.getPublicKey(secret), peer);
      expect(fast && hex(fast)).toBe(expected);
      // The runtime refuses a JWK whose x is not d's public key: no result from the shortcut…
      expect(await webCryptoKeyPairSharedSecret(secret, peer, peer)).toBeUndefined();
      // …and dhWith still answers with the right secret through the ordinary path.
      expect(hex(await dhWith(webCryptoX25519, secret, peer, peer))).toBe(expected);
    }
  });

  it('every Wycheproof x25519 case gives dh()’s result or its error through the JWK path', async () => {
    let n = 0;
    for (const g of loadWycheproof('x25519_test.json').testGroups) {
      for (const t of g.tests) {
        const pub = unhex(t.public as string);
        const priv = unhex(t.private as string);
        const own = x25519.getPublicKey(priv);
        let expected: string;
        try {
          expected = hex(dh(priv, pub));
        } catch (e) {
          await expect(dhWith(webCryptoX25519, priv, pub, own), `tcId ${t.tcId}`).rejects.toMatchObject({
            code: (e as CryptoCoreError).code,
          });
          n++;
          continue;
        }
        expect(hex(await dhWith(webCryptoX25519, priv, pub, own)), `tcId ${t.tcId}`).toBe(expected);
        n++;
      }
    }
    expect(n).toBe(518);
  });
});

describe('WebCrypto-generated ratchet key pairs', () => {
  it('export a consistent pair whose shared secret is noble’s', async () => {
    for (let i = 0; i < 16; i++) {
      const peer = x25519.getPublicKey(crypto.getRandomValues(new Uint8Array(32)));
      const fresh = await webCryptoFreshKeyPair(peer);
      expect(fresh).toBeDefined();
      if (!fresh) return;
      expect(hex(fresh.publicKey)).toBe(hex(x25519.getPublicKey(fresh.secretKey)));
      expect(fresh.shared && hex(fresh.shared)).toBe(hex(x25519.getSharedSecret(fresh.secretKey, peer)));
    }
  });

  it('a low-order peer key gives no shared secret (the ratchet then decides BAD_KEY)', async () => {
    const lowOrder = new Uint8Array(32); // u = 0
    const fresh = await webCryptoFreshKeyPair(lowOrder);
    expect(fresh?.shared).toBeUndefined();
    await expect(dhWith(nobleX25519, new Uint8Array(32).fill(7), lowOrder)).rejects.toMatchObject({
      code: 'BAD_KEY',
    });
  });

  it('a default-options conversation with a DH step every turn keeps consistent ratchet keys', async () => {
    const p = makeParties('fast paths');
    let { session: a } = initiateSession(p.alice, p.bundle, ACC);
    const first = await encryptMessage(a, 'text', content(enc('0')));
    a = first.session;
    const got = await acceptSession(p.bobKeys, first.message, CTX);
    let b = got.session;
    expect(new TextDecoder().decode(got.body)).toBe('0');
    for (let i = 1; i <= 12; i++) {
      const [from, to] = i % 2 ? [b, a] : [a, b];
      const sent = await encryptMessage(from, 'text', content(enc(String(i))));
      const back = await decryptMessage(to, sent.message);
      expect(new TextDecoder().decode(back.body)).toBe(String(i));
      // The receiver just made a new pair (natively here): its halves must belong together.
      const pair = back.session.sendingRatchet;
      expect(hex(pair.publicKey)).toBe(hex(x25519.getPublicKey(pair.secretKey)));
      if (i % 2) [b, a] = [sent.session, back.session];
      else [a, b] = [sent.session, back.session];
    }
  });
});

describe('acceptSession computes its four X3DH DHs with WebCrypto by default', () => {
  it('gives the session noble gives: both accept the same message, and the conversation goes on', async () => {
    const p = makeParties('x3dh webcrypto');
    const { session: a } = initiateSession(p.alice, p.bundle, ACC);
    const first = await encryptMessage(a, 'text', content(enc('hello')));
    const viaWebCrypto = await acceptSession(p.bobKeys, first.message, CTX);
    const viaNoble = await acceptSession(p.bobKeys, first.message, CTX, { x25519: nobleX25519 });
    expect(new TextDecoder().decode(viaWebCrypto.body)).toBe('hello');
    expect(hex(viaWebCrypto.session.associatedData)).toBe(hex(viaNoble.session.associatedData));
    const reply = await encryptMessage(viaWebCrypto.session, 'text', content(enc('back')));
    const got = await decryptMessage(first.session, reply.message);
    expect(new TextDecoder().decode(got.body)).toBe('back');
  });

  it('wrong public halves supplied with the prekeys only cost the shortcut', async () => {
    const p = makeParties('x3dh wrong publics');
    const { session: a } = initiateSession(p.alice, p.bundle, ACC);
    const first = await encryptMessage(a, 'text', content(enc('hello')));
    const other = x25519.getPublicKey(new Uint8Array(32).fill(9));
    const keys = { ...p.bobKeys, oneTimePreKey: { ...p.opk, publicKey: other } };
    const got = await acceptSession(keys, first.message, CTX);
    expect(new TextDecoder().decode(got.body)).toBe('hello');
  });
});

it('the error type of the fallback is still CryptoCoreError', async () => {
  await expect(
    dhWith(webCryptoX25519, new Uint8Array(32).fill(1), new Uint8Array(32)),
  ).rejects.toBeInstanceOf(CryptoCoreError);
});

describe('callers ask a backend for capabilities, not for its identity', () => {
  it('a backend of its own with the shortcuts has them used by the handshake and the ratchet', async () => {
    const used = { keyPair: 0, peer: 0, fresh: 0 };
    const counting: X25519Backend = {
      name: 'webcrypto',
      publicKey: (s) => webCryptoX25519.publicKey(s),
      sharedSecret: (s, p) => webCryptoX25519.sharedSecret(s, p),
      keyPairSharedSecret: (s, own, p, k) => {
        used.keyPair++;
        return webCryptoKeyPairSharedSecret(s, own, p, k);
      },
      preparePeerKey: (p) => {
        used.peer++;
        return webCryptoX25519.preparePeerKey?.(p);
      },
      freshKeyPair: (p, k) => {
        used.fresh++;
        return webCryptoFreshKeyPair(p, k);
      },
    };
    const p = makeParties('capabilities');
    const { session: a } = initiateSession(p.alice, p.bundle, ACC);
    const first = await encryptMessage(a, 'text', content(enc('hello')));
    const got = await acceptSession(p.bobKeys, first.message, CTX, { x25519: counting });
    expect(new TextDecoder().decode(got.body)).toBe('hello');
    // The four X3DH DHs took the key-pair shortcut; the first ratchet step prepared the peer
    // key once and drew its new pair natively (system randomness).
    expect(used.keyPair).toBeGreaterThanOrEqual(4);
    expect(used.peer).toBe(1);
    expect(used.fresh).toBe(1);
    const reply = await encryptMessage(got.session, 'text', content(enc('back')));
    expect(new TextDecoder().decode((await decryptMessage(first.session, reply.message)).body)).toBe('back');
  });

  it('a backend with only the two required members works everywhere, with the same bytes', async () => {
    const plain: X25519Backend = {
      name: 'noble',
      publicKey: (s) => nobleX25519.publicKey(s),
      sharedSecret: (s, p) => nobleX25519.sharedSecret(s, p),
    };
    const p = makeParties('no capabilities');
    const { session: a } = initiateSession(p.alice, p.bundle, ACC);
    const first = await encryptMessage(a, 'text', content(enc('hello')));
    const viaPlain = await acceptSession(p.bobKeys, first.message, CTX, { x25519: plain });
    const viaDefault = await acceptSession(p.bobKeys, first.message, CTX);
    expect(hex(viaPlain.session.associatedData)).toBe(hex(viaDefault.session.associatedData));
    expect(new TextDecoder().decode(viaPlain.body)).toBe('hello');
  });
});
