// Shared steps: register + confirm a user, log in at the next time step.
import { expect } from 'vitest';
import type { Api } from './app.js';
import type { TestClock } from './clock.js';
import { totpAt } from './totp-reference.js';

export interface TestUser {
  username: string;
  secret: string;
  recoveryCodes: string[];
  access: string;
  refresh: string;
  id: string;
}

/** Headers that make the request appear to come from `ip` (the tests reach the app via loopback, a trusted proxy). */
export const fromIp = (ip: string) => ({ 'x-forwarded-for': ip });

export async function registerUser(
  api: Api,
  clock: TestClock,
  username: string,
  ip = '198.51.100.1',
): Promise<TestUser> {
  const reg = await api.post('/register', { username }, { headers: fromIp(ip) });
  expect(reg.status).toBe(201);
  const conf = await api.post(
    '/register/confirm',
    { username, code: totpAt(reg.body.secret, clock.now()) },
    { headers: fromIp(ip) },
  );
  expect(conf.status).toBe(201);
  return {
    username: reg.body.username,
    secret: reg.body.secret,
    recoveryCodes: conf.body.recovery_codes,
    access: conf.body.access_token,
    refresh: conf.body.refresh_token,
    id: conf.body.user.id,
  };
}

/** Moves to the next 30 s step (a step is accepted once) and logs in with its code. */
export async function loginNextStep(api: Api, clock: TestClock, user: TestUser, ip = '198.51.100.1') {
  clock.advance(30_000);
  return api.post(
    '/login',
    { username: user.username, code: totpAt(user.secret, clock.now()) },
    { headers: fromIp(ip) },
  );
}
