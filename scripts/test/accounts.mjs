// Accounts for the tests that drive a whole Secure Drop over HTTP (npm run backup/restore, the
// compose backup): registration with a real TOTP code (spec/openapi.yaml POST /register and
// /register/confirm).
import { expect } from 'vitest';
import { totpAt } from '../../relay/test/helpers/totp-reference.ts';

/** A TOTP code for a 30 s step after `lastStep` (the relay accepts each step once, and the
 * next step within its window of one). */
export function codeAfter(secret, lastStep) {
  const step = Math.max(Math.floor(Date.now() / 30_000), lastStep + 1);
  return { step, code: totpAt(secret, step * 30_000) };
}

/** Registers and confirms `username` through `api(method, path, { json })`. */
export async function register(api, username) {
  const reg = await api('POST', '/register', { json: { username } });
  expect(reg.status, JSON.stringify(reg.body)).toBe(201);
  const { step, code } = codeAfter(reg.body.secret, 0);
  const conf = await api('POST', '/register/confirm', { json: { username, code } });
  expect(conf.status, JSON.stringify(conf.body)).toBe(201);
  return { username, secret: reg.body.secret, lastStep: step, access: conf.body.access_token };
}
