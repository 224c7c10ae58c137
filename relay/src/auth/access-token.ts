// Access tokens (spec/openapi.yaml info: authenticated routes): short-lived HS256 JWTs made with jose. The algorithm is
// pinned on verify, exp/iat/sub/sid are required, iss/aud/typ are set and checked. The session id
// (`sid`) is then checked against the sessions table on every request (require-auth.ts).
import { createHash, webcrypto } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { AppDeps } from '../deps.js';

const TYP = 'at+jwt'; // RFC 9068 §2.1 media type for access tokens
const ALG = 'HS256';

export interface AccessClaims {
  userId: string;
  sessionId: string;
}

export async function signAccessToken(
  deps: AppDeps,
  claims: AccessClaims,
): Promise<{ token: string; expiresIn: number }> {
  const { jwt, secrets } = deps.config;
  const iat = Math.floor(deps.clock.now() / 1000);
  const token = await new SignJWT({ sid: claims.sessionId })
    .setProtectedHeader({ alg: ALG, typ: TYP })
    .setSubject(claims.userId)
    .setIssuer(jwt.issuer)
    .setAudience(jwt.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + jwt.accessTtlSeconds)
    .sign(secrets.jwtKey);
  return { token, expiresIn: jwt.accessTtlSeconds };
}

export type VerifyFailure = 'token_expired' | 'invalid_token';

// Verifying costs a WebCrypto HMAC job per request (~15 % of the relay's CPU under send load,
// plus a key import per call when jose is given raw bytes). Two savings, neither of which
// changes what is accepted:
// - the key is imported once as a CryptoKey;
// - a token that verified is remembered (by its SHA-256, so no token is kept in memory or
//   compared by content) with its claims and expiry, in a bounded map per key. Verification
//   is a pure function of the token's bytes and the key except for time, and expiry is checked
//   again against the clock on every hit, exactly as jose checks it (exp > now, whole seconds).
//   This caches the signature check only: the session is still checked on every request.
const MEMO_MAX = 20_000;
interface Verified {
  claims: AccessClaims;
  /** exp claim, seconds. */
  exp: number;
}
const verifyKeys = new WeakMap<Uint8Array, Promise<webcrypto.CryptoKey>>();
const memos = new WeakMap<Uint8Array, Map<string, Verified>>();

function verifyKeyOf(raw: Uint8Array): Promise<webcrypto.CryptoKey> {
  let key = verifyKeys.get(raw);
  if (!key) {
    key = webcrypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    verifyKeys.set(raw, key);
  }
  return key;
}

function memoOf(raw: Uint8Array): Map<string, Verified> {
  let memo = memos.get(raw);
  if (!memo) {
    memo = new Map();
    memos.set(raw, memo);
  }
  return memo;
}

/**
 * RFC 7515 §2 base64url without padding, in its one canonical spelling. A decoder ignores the
 * unused low bits of the last character, so without this check a token with one of those bits
 * flipped decodes to the same signature and verifies: one token would have several spellings,
 * and a "tampered" token would be accepted (seen as a WebSocket that was not closed with 4401).
 */
function isCanonicalJws(token: string): boolean {
  const parts = token.split('.');
  return (
    parts.length === 3 &&
    parts.every((p) => p.length > 0 && Buffer.from(p, 'base64url').toString('base64url') === p)
  );
}

/** Verifies signature and claims; returns the claims or why it failed (never throws for bad tokens). */
export async function verifyAccessToken(
  deps: AppDeps,
  token: string,
): Promise<{ ok: true; claims: AccessClaims; expiresAtMs: number } | { ok: false; reason: VerifyFailure }> {
  const { jwt, secrets } = deps.config;
  const now = deps.clock.now();
  if (!isCanonicalJws(token)) return { ok: false, reason: 'invalid_token' };
  const memo = memoOf(secrets.jwtKey);
  const digest = createHash('sha256').update(token).digest('base64');
  const known = memo.get(digest);
  if (known) {
    if (known.exp > Math.floor(now / 1000))
      return { ok: true, claims: known.claims, expiresAtMs: known.exp * 1000 };
    memo.delete(digest); // expired: jose below says so
  }
  try {
    const { payload } = await jwtVerify(token, await verifyKeyOf(secrets.jwtKey), {
      algorithms: [ALG],
      issuer: jwt.issuer,
      audience: jwt.audience,
      typ: TYP,
      requiredClaims: ['exp', 'iat', 'sub', 'sid'],
      currentDate: new Date(now),
      // A maximum age whatever `exp` says (spec/openapi.yaml, bearer scheme): iat older than the
      // access-token lifetime, or in the future, is refused.
      maxTokenAge: jwt.accessTtlSeconds,
    });
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string')
      return { ok: false, reason: 'invalid_token' };
    // …and no token may claim a longer life than this relay issues (a 10-year exp is forged or
    // from a misconfiguration; either way it is not ours to honour).
    if (
      typeof payload.exp !== 'number' ||
      typeof payload.iat !== 'number' ||
      payload.exp - payload.iat > jwt.accessTtlSeconds
    )
      return { ok: false, reason: 'invalid_token' };
    const claims = { userId: payload.sub, sessionId: payload.sid };
    // The first second at which this token is refused: `exp`, or `iat` + the lifetime
    // (maxTokenAge above), whichever comes first. A WebSocket is closed then (src/ws/hub.ts).
    const exp = Math.min(payload.exp, payload.iat + jwt.accessTtlSeconds);
    // Only tokens whose validity is "signature, fixed claims and exp" (ours carry no nbf).
    if (payload.nbf === undefined) {
      if (memo.size >= MEMO_MAX) memo.delete(memo.keys().next().value as string); // oldest first
      memo.set(digest, { claims, exp });
    }
    return { ok: true, claims, expiresAtMs: exp * 1000 };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, reason: 'token_expired' };
    return { ok: false, reason: 'invalid_token' };
  }
}
