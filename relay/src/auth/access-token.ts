// Access tokens (issue 3 "Sessions"): short-lived HS256 JWTs made with jose. The algorithm is
// pinned on verify, exp/iat/sub/sid are required, iss/aud/typ are set and checked. The session id
// (`sid`) is then checked against the sessions table on every request (require-auth.ts).
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

/** Verifies signature and claims; returns the claims or why it failed (never throws for bad tokens). */
export async function verifyAccessToken(
  deps: AppDeps,
  token: string,
): Promise<{ ok: true; claims: AccessClaims } | { ok: false; reason: VerifyFailure }> {
  const { jwt, secrets } = deps.config;
  try {
    const { payload } = await jwtVerify(token, secrets.jwtKey, {
      algorithms: [ALG],
      issuer: jwt.issuer,
      audience: jwt.audience,
      typ: TYP,
      requiredClaims: ['exp', 'iat', 'sub', 'sid'],
      currentDate: new Date(deps.clock.now()),
    });
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string')
      return { ok: false, reason: 'invalid_token' };
    return { ok: true, claims: { userId: payload.sub, sessionId: payload.sid } };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, reason: 'token_expired' };
    return { ok: false, reason: 'invalid_token' };
  }
}
