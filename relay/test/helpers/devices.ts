// Linked devices in tests (spec/protocol.md §16): key uploads that set a session's device up, the
// way the app does (POST /keys with the identity key and a full prekey set).
import { expect } from 'vitest';
import type { TestApp } from './app.js';
import { identityFields, identityFor, type TestIdentity } from './identity.js';
import { b64, newSession } from './relay-data.js';

let nextKeyId = 1;

const signed = (keyId: number, size = 32) => ({ key_id: keyId, public_key: b64(size), signature: b64(64) });

/** A full upload for a new device: identity (with proof), both signed prekeys, one-time stocks. */
export function deviceUpload(id: TestIdentity, opts: { opk?: number; pq?: number } = {}) {
  const base = nextKeyId;
  nextKeyId += 1000;
  return {
    ...identityFields(id),
    signed_prekey: signed(base),
    pq_prekey: signed(base, 1184),
    one_time_prekeys: Array.from({ length: opts.opk ?? 3 }, (_, i) => ({
      key_id: base + i,
      public_key: b64(32),
    })),
    one_time_pq_prekeys: Array.from({ length: opts.pq ?? 3 }, (_, i) => signed(base + 500 + i, 1184)),
  };
}

/**
 * A new device-less login of `userId` that has fetched a provisioning message, as a new device
 * has when it links (migration 0072): set directly here; the flow itself (open, PUT by a device,
 * fetch) and its refusals are tested in provisioning.test.ts.
 */
export async function provisionedSession(
  t: TestApp,
  userId: string,
): Promise<{ sessionId: string; token: string }> {
  const s = await newSession(t, userId);
  await t.deps.pool.query('UPDATE sessions SET provisioned_at = now() WHERE id = $1', [s.sessionId]);
  return s;
}

export interface TestDevice {
  deviceId: number;
  sessionId: string;
  token: string;
  /** The device's resume secret (spec/protocol.md §16.9), returned once when it was created. */
  resumeSecret: string;
}

/**
 * A new login of `userId` set up as a device with identity `id` (the first device, or a linked
 * one when the account already published `id`).
 */
export async function addDevice(
  t: TestApp,
  userId: string,
  id: TestIdentity,
  opts: { opk?: number; pq?: number; device?: { name: string; kind: string } } = {},
): Promise<TestDevice> {
  const s = await provisionedSession(t, userId);
  const body = { ...deviceUpload(id, opts), ...(opts.device ? { device: opts.device } : {}) };
  const res = await t.api.post('/keys', body, { token: s.token });
  expect(res.status, res.text).toBe(200);
  expect(res.body.resume_secret).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  return { deviceId: res.body.device_id, resumeSecret: res.body.resume_secret, ...s };
}

/** Sets `user`'s own session up as its first device (an identity upload), so it may fetch bundles. */
export async function asDevice<U extends { username: string; token: string }>(
  t: TestApp,
  user: U,
): Promise<U> {
  const res = await t.api.post('/keys', identityFields(identityFor(user.username)), { token: user.token });
  expect(res.status, res.text).toBe(200);
  return user;
}
