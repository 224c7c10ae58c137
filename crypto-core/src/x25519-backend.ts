/**
 * Two interchangeable X25519 implementations for the ratchet's DH steps (spec/protocol.md
 * §7.4): WebCrypto (native; used where the runtime has X25519) and @noble/curves (pure JS).
 * X25519 is deterministic, so both give identical bytes. WebCrypto is chosen only after it
 * reproduces RFC 7748 §6.1 exactly; otherwise — older browsers — noble is used.
 */
import { x25519 as nobleX25519Curve } from '@noble/curves/ed25519.js';
import { x25519 as webX25519 } from '@noble/curves/webcrypto.js';
import { expectBytes } from './bytes.js';
import { bytesEqual } from './bytes-equal.js';
import { CryptoCoreError, fail } from './errors.js';

export interface X25519Backend {
  readonly name: 'webcrypto' | 'noble';
  /** The public key of a 32-byte secret. */
  publicKey(secretKey: Uint8Array): Promise<Uint8Array>;
  /** X25519(secret, public); BAD_KEY when the primitive refuses (e.g. an all-zero result). */
  sharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array>;
}

/**
 * Pure-JS X25519 (@noble/curves); available everywhere.
 *
 * @example
 * await decryptMessage(session, bytes, { x25519: nobleX25519 });
 */
export const nobleX25519: X25519Backend = {
  name: 'noble',
  async publicKey(secretKey) {
    return nobleX25519Curve.getPublicKey(checkKey(secretKey, 'secret'));
  },
  async sharedSecret(secretKey, publicKey) {
    return guard(() =>
      nobleX25519Curve.getSharedSecret(checkKey(secretKey, 'secret'), checkKey(publicKey, 'public')),
    );
  },
};

function checkKey(key: Uint8Array, which: string): Uint8Array {
  return expectBytes(key, `X25519 ${which} key`, 32);
}

/** Any failure of the primitive itself (e.g. an all-zero result) is BAD_KEY. */
async function guard(f: () => Uint8Array | Promise<Uint8Array>): Promise<Uint8Array> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof CryptoCoreError) throw e;
    return fail('BAD_KEY', 'X25519 refused the key (degenerate shared secret)');
  }
}

const RAW = { formatSec: 'raw', formatPub: 'raw' } as const;

/**
 * WebCrypto X25519 for the shared secrets (raw keys wrapped as PKCS#8 by
 * @noble/curves/webcrypto). Public keys come from noble: WebCrypto can only reach them
 * through a JWK export round trip, which measured slower than noble's fixed-base path.
 *
 * @example
 * await decryptMessage(session, bytes, { x25519: webCryptoX25519 });
 */
export const webCryptoX25519: X25519Backend = {
  name: 'webcrypto',
  async publicKey(secretKey) {
    return nobleX25519Curve.getPublicKey(checkKey(secretKey, 'secret'));
  },
  sharedSecret: (secretKey, publicKey) =>
    guard(() => webX25519.getSharedSecret(checkKey(secretKey, 'secret'), checkKey(publicKey, 'public'), RAW)),
};

// RFC 7748 §6.1: Alice's secret key, Bob's public key, and their shared secret.
const hex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
const PROBE = {
  secret: hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'),
  peer: hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'),
  shared: hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'),
};

let chosen: Promise<X25519Backend> | undefined;

/**
 * WebCrypto when it reproduces RFC 7748 §6.1 byte for byte, otherwise noble; decided once.
 *
 * @example
 * const backend = await defaultX25519(); // backend.name: 'webcrypto' in Node ≥ 20
 */
export function defaultX25519(): Promise<X25519Backend> {
  chosen ??= (async () => {
    try {
      const shared = await webCryptoX25519.sharedSecret(PROBE.secret, PROBE.peer);
      if (bytesEqual(shared, PROBE.shared)) return webCryptoX25519;
    } catch {
      // No X25519 in this runtime's WebCrypto: fall through to noble.
    }
    return nobleX25519;
  })();
  return chosen;
}
