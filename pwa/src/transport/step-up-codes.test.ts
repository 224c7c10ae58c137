// A wrong second factor on a step-up route (POST /session/reauth, /totp/reenroll,
// /totp/reenroll/confirm, /recovery_codes/regenerate) is answered 401 invalid_code or
// code_reused, over the real relay. The client used to take every 401 for an expired access
// token: it rotated the refresh token and sent the same code again, which the relay counted as
// a second failure (spec/openapi.yaml POST /login throttling) — a user locked out after two
// typos instead of being told twice.
// @vitest-environment node
import { generate } from 'otplib';
import { describe, expect, it } from 'vitest';
import { freshName, relayUrl } from '../test/relay.ts';
import { RelayApi } from './api.ts';

/**
 * A user signed up from an address of its own: the relay believes X-Forwarded-For from loopback
 * (TRUST_PROXY's default), and the suite's other tests' failures from 127.0.0.1 must not count
 * against this one's (the per-address limit of POST /login).
 */
async function signedUp() {
  const calls: string[] = [];
  const address = `10.${[0, 0, 0].map(() => Math.floor(Math.random() * 250) + 1).join('.')}`;
  const counting = ((input: RequestInfo | URL, init?: RequestInit) => {
    calls.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
    const headers = new Headers(init?.headers);
    headers.set('x-forwarded-for', address);
    return globalThis.fetch(input, { ...init, headers });
  }) as typeof fetch;
  const api = new RelayApi({ baseUrl: relayUrl(), fetch: counting });
  const start = await api.register(freshName('stepup'));
  await api.confirmRegistration(start.username, await generate({ secret: start.secret }));
  calls.length = 0;
  return { api, calls, secret: start.secret };
}

/** A 6-digit code valid for none of the time steps the relay accepts around now. */
async function wrongCode(secret: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const valid = new Set(
    await Promise.all([-60, -30, 0, 30, 60].map((d) => generate({ secret, epoch: now + d }))),
  );
  for (let i = 100_000; ; i++) if (!valid.has(String(i))) return String(i);
}

describe('step-up with a mistyped code', () => {
  it('sends the code once and leaves the session’s tokens alone', async () => {
    const { api, calls, secret } = await signedUp();
    await expect(api.reauth(await wrongCode(secret))).rejects.toMatchObject({
      status: 401,
      code: 'invalid_code',
    });
    expect(calls).toEqual(['POST /session/reauth']);
  });

  it('two typos leave the right code accepted: no lockout yet', async () => {
    const { api, secret } = await signedUp();
    const bad = await wrongCode(secret);
    await expect(api.reauth(bad)).rejects.toMatchObject({ status: 401, code: 'invalid_code' });
    await expect(api.reauth(bad)).rejects.toMatchObject({ status: 401, code: 'invalid_code' });
    // Two failures are below the point where delays begin (three, spec POST /login).
    const next = await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });
    await expect(api.reauth(next)).resolves.toBeUndefined();
  });
});
