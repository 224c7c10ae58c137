/**
 * Two interchangeable X25519 implementations for the ratchet's DH steps (spec/protocol.md
 * §7.4) and the responder's handshake DHs (§5.3): WebCrypto (native; used where the runtime
 * has X25519) and @noble/curves (pure JS). X25519 is deterministic, so both give identical
 * bytes. WebCrypto is chosen only after it reproduces RFC 7748 §6.1 exactly; otherwise —
 * older browsers — noble is used. WebCrypto's cheaper paths are optional members of the
 * backend interface, so callers ask for a capability, never for a particular backend.
 */
import { x25519 as nobleX25519Curve } from '@noble/curves/ed25519.js';
import { x25519 as webX25519 } from '@noble/curves/webcrypto.js';
import { expectBytes } from './bytes.js';
import { bytesEqual } from './bytes-equal.js';
import { CryptoCoreError, fail } from './errors.js';

/** A peer's public key prepared once by a backend for several DHs (opaque to callers). */
export type PreparedPeerKey = Promise<unknown>;

/** A fresh key pair and its shared secret with a peer (undefined when the backend refused the DH). */
export interface FreshKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
  shared: Uint8Array | undefined;
}

/**
 * An X25519 implementation. `publicKey` and `sharedSecret` are required; the three optional
 * members are shortcuts a backend may offer (WebCrypto does, noble has no use for them).
 * Each may answer undefined, and the caller then takes the required path: same bytes
 * either way, so a caller asks for a capability, never for a particular backend.
 */
export interface X25519Backend {
  readonly name: 'webcrypto' | 'noble';
  /** The public key of a 32-byte secret. */
  publicKey(secretKey: Uint8Array): Promise<Uint8Array>;
  /** X25519(secret, public); BAD_KEY when the primitive refuses (e.g. an all-zero result). */
  sharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array>;
  /**
   * X25519 of a key pair whose public half the caller already holds, cheaper than
   * `sharedSecret` for this backend; undefined when the shortcut is unavailable or refuses
   * anything (including a public half that does not belong to the secret).
   */
  keyPairSharedSecret?(
    secretKey: Uint8Array,
    ownPublicKey: Uint8Array,
    peerPublicKey: Uint8Array,
    peerKey?: PreparedPeerKey,
  ): Promise<Uint8Array | undefined>;
  /** The peer's public key prepared once, for the two DHs of one ratchet step (spec §7.4). */
  preparePeerKey?(peerPublicKey: Uint8Array): PreparedPeerKey | undefined;
  /**
   * A fresh key pair drawn from the system CSPRNG and its shared secret with the peer
   * (spec §7.4 DHRatchet steps 3–4). Only for callers whose randomness is the system's.
   */
  freshKeyPair?(peerPublicKey: Uint8Array, peerKey?: PreparedPeerKey): Promise<FreshKeyPair | undefined>;
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
  keyPairSharedSecret: (secretKey, ownPublicKey, peerPublicKey, peerKey) =>
    webCryptoKeyPairSharedSecret(secretKey, ownPublicKey, peerPublicKey, peerKey),
  preparePeerKey: (peerPublicKey) => webCryptoPeerKey(peerPublicKey),
  freshKeyPair: (peerPublicKey, peerKey) => webCryptoFreshKeyPair(peerPublicKey, peerKey),
};

// The slice of WebCrypto used by the key-pair path below, typed locally (no DOM types here).
interface X25519Jwk {
  kty: 'OKP';
  crv: 'X25519';
  d: string;
  x: string;
}
interface SubtleX25519 {
  importKey(
    format: 'jwk',
    key: X25519Jwk,
    algorithm: 'X25519',
    extractable: false,
    usages: ['deriveBits'],
  ): Promise<unknown>;
  importKey(
    format: 'raw',
    key: Uint8Array,
    algorithm: 'X25519',
    extractable: true,
    usages: [],
  ): Promise<unknown>;
  deriveBits(algorithm: { name: 'X25519'; public: unknown }, key: unknown, length: 256): Promise<ArrayBuffer>;
  generateKey(
    algorithm: 'X25519',
    extractable: true,
    usages: ['deriveBits'],
  ): Promise<{ publicKey: unknown; privateKey: unknown }>;
  exportKey(format: 'jwk', key: unknown): Promise<{ d?: unknown; x?: unknown }>;
}

const subtleX25519 = (): SubtleX25519 | undefined =>
  (globalThis as { crypto?: { subtle?: unknown } }).crypto?.subtle as SubtleX25519 | undefined;

// RFC 7518 §2 / RFC 8037 §2: JWK members are base64url without padding (btoa is the platform's base64).
const base64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
// atob is the platform's forgiving base64 decoder (padding optional).
const fromBase64url = (text: unknown): Uint8Array | undefined =>
  typeof text === 'string'
    ? Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))
    : undefined;

/**
 * X25519 shared secret of a key pair whose public half is already known (the ratchet's
 * own keys, spec §7.4). WebCrypto imports the secret as a JWK {d, x}, which Node does about
 * 6× faster than the PKCS#8 wrapping of {@link webCryptoX25519} (that path runs OpenSSL's
 * DER decoder per call); the runtime checks that x belongs to d, so a mismatched pair is
 * refused rather than used. Returns undefined when this path is unavailable (decided once,
 * by RFC 7748 §6.1) or refuses anything, and the caller then takes the backend's ordinary
 * path: same bytes either way. {@link webCryptoX25519}'s `keyPairSharedSecret`.
 */
export async function webCryptoKeyPairSharedSecret(
  secretKey: Uint8Array,
  ownPublicKey: Uint8Array,
  peerPublicKey: Uint8Array,
  peerKey?: PreparedPeerKey,
): Promise<Uint8Array | undefined> {
  if (!(await jwkPathWorks())) return undefined;
  return jwkSharedSecret(secretKey, ownPublicKey, peerPublicKey, peerKey);
}

/**
 * The peer's public key imported once as a WebCrypto key, for the two DHs of one ratchet
 * step (a public value; it lives only for that step). Undefined without WebCrypto.
 * {@link webCryptoX25519}'s `preparePeerKey`.
 */
export function webCryptoPeerKey(peerPublicKey: Uint8Array): PreparedPeerKey | undefined {
  const subtle = subtleX25519();
  if (subtle === undefined) return undefined;
  const key = subtle.importKey('raw', peerPublicKey.slice(), 'X25519', true, []);
  key.catch(() => undefined); // a refusal is seen (and decided) by each user of the key
  return key;
}

async function jwkSharedSecret(
  secretKey: Uint8Array,
  ownPublicKey: Uint8Array,
  peerPublicKey: Uint8Array,
  peerKey?: PreparedPeerKey,
): Promise<Uint8Array | undefined> {
  const subtle = subtleX25519();
  if (subtle === undefined) return undefined;
  try {
    const jwk: X25519Jwk = { kty: 'OKP', crv: 'X25519', d: base64url(secretKey), x: base64url(ownPublicKey) };
    const [own, peer] = await Promise.all([
      subtle.importKey('jwk', jwk, 'X25519', false, ['deriveBits']),
      peerKey ?? subtle.importKey('raw', peerPublicKey.slice(), 'X25519', true, []),
    ]);
    return new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: peer }, own, 256));
  } catch {
    return undefined; // not supported, a refused key or a degenerate result: the ordinary path decides
  }
}

/**
 * A fresh ratchet key pair generated by WebCrypto from the system CSPRNG, and its shared
 * secret with `peerPublicKey` computed from the same key object (spec §7.4 DHRatchet
 * steps 3–4). Only for callers whose randomness is the system's anyway (an injected
 * RandomSource is always honoured through noble): a native key generation costs a third
 * of noble's fixed-base multiplication here and saves importing the new secret again.
 * `shared` is undefined when WebCrypto refused the DH (the caller then decides, e.g.
 * BAD_KEY); the whole result is undefined when this runtime cannot do it.
 * {@link webCryptoX25519}'s `freshKeyPair`.
 */
export async function webCryptoFreshKeyPair(
  peerPublicKey: Uint8Array,
  peerKey?: PreparedPeerKey,
): Promise<FreshKeyPair | undefined> {
  const subtle = subtleX25519();
  if (subtle === undefined || !(await jwkPathWorks())) return undefined;
  let pair: { publicKey: unknown; privateKey: unknown };
  let jwk: { d?: unknown; x?: unknown };
  let shared: Uint8Array | undefined;
  try {
    pair = await subtle.generateKey('X25519', true, ['deriveBits']);
    const peer = peerKey ?? subtle.importKey('raw', peerPublicKey.slice(), 'X25519', true, []);
    const derived = peer.then((p) => subtle.deriveBits({ name: 'X25519', public: p }, pair.privateKey, 256));
    [jwk, shared] = await Promise.all([
      subtle.exportKey('jwk', pair.privateKey),
      derived.then(
        (bits) => new Uint8Array(bits),
        () => undefined,
      ),
    ]);
  } catch {
    return undefined;
  }
  const secretKey = fromBase64url(jwk.d);
  const publicKey = fromBase64url(jwk.x);
  if (secretKey?.length !== 32 || publicKey?.length !== 32) return undefined;
  return { publicKey, secretKey, shared };
}

let jwkProbe: Promise<boolean> | undefined;

function jwkPathWorks(): Promise<boolean> {
  jwkProbe ??= jwkSharedSecret(PROBE.secret, PROBE.public, PROBE.peer).then(
    (shared) => shared !== undefined && bytesEqual(shared, PROBE.shared),
  );
  return jwkProbe;
}

// RFC 7748 §6.1: Alice's secret and public keys, Bob's public key, and their shared secret.
const hex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
const PROBE = {
  secret: hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'),
  public: hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'),
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
