// Accounts for the tests that drive a whole Secure Drop over HTTP (npm run backup/restore, the
// compose backup): registration with a real TOTP code (spec/openapi.yaml POST /register and
// /register/confirm), then the first device set up as the app does it (POST /keys with the
// identity key, its proof and the device's signed prekeys: spec/protocol.md §16), so the
// session may send, read and acknowledge messages.
import { expect } from 'vitest';
import { totpAt } from '../../relay/test/helpers/totp-reference.ts';
import { deviceKeyUpload, resumeUpload } from '../lib/device-keys.mjs';

export { singleDeviceSend } from '../lib/device-keys.mjs';

/** A TOTP code for a 30 s step after `lastStep` (the relay accepts each step once, and the
 * next step within its window of one). */
export function codeAfter(secret, lastStep) {
  const step = Math.max(Math.floor(Date.now() / 30_000), lastStep + 1);
  return { step, code: totpAt(secret, step * 30_000) };
}

/** Registers and confirms `username` through `api(method, path, { json, token })`, and binds the
 * session to the account's device 1 (published: senders must address it). */
export async function register(api, username) {
  const reg = await api('POST', '/register', { json: { username } });
  expect(reg.status, JSON.stringify(reg.body)).toBe(201);
  const { step, code } = codeAfter(reg.body.secret, 0);
  const conf = await api('POST', '/register/confirm', { json: { username, code } });
  expect(conf.status, JSON.stringify(conf.body)).toBe(201);
  const access = conf.body.access_token;
  const { body, identity } = deviceKeyUpload(username);
  const keys = await api('POST', '/keys', { token: access, json: body });
  expect(keys.status, JSON.stringify(keys.body)).toBe(200);
  expect(keys.body).toMatchObject({ device_id: 1, device_created: true });
  const resumeSecret = keys.body.resume_secret;
  expect(typeof resumeSecret).toBe('string');
  return { username, secret: reg.body.secret, lastStep: step, access, identity, deviceId: 1, resumeSecret };
}

/** Logs `account` in again with its authenticator and RESUMEs its device (POST /keys with
 * `device_id`, spec/protocol.md §16): the new session is bound to the same device, no new one.
 * Returns the new access token. */
export async function loginAndResume(api, account) {
  const { step, code } = codeAfter(account.secret, account.lastStep);
  account.lastStep = step;
  const login = await api('POST', '/login', { json: { username: account.username, code } });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  const token = login.body.access_token;
  const resumed = await api('POST', '/keys', {
    token,
    json: resumeUpload(account.username, account.identity, account.deviceId, account.resumeSecret),
  });
  expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
  expect(resumed.body).toMatchObject({ device_id: account.deviceId, device_created: false });
  return token;
}
