// The real relay for unit tests: test-relay/global-setup.ts starts ONE relay process (with its
// own embedded PostgreSQL) for the whole vitest run and provides its URL; each test registers
// fresh users on it through the real transport layer (RelayApi over Node's fetch).
// Files using this run in vitest's `node` environment: happy-dom's fetch applies a page's CORS
// rules to a cross-origin loopback server, Node's fetch is a plain HTTP client like the browser
// behind the host's same-origin /api.
import { generate } from 'otplib';
import { expect, inject } from 'vitest';
import { publishAccountKeys } from '../secure/account-keys.ts';
import { openIdbStorage } from '../storage/idb-storage.ts';
import { RelayApi } from '../transport/api.ts';

import type {} from './provided.ts';

export const relayUrl = (): string => inject('relayUrl');
export const relayWsUrl = (): string => `${relayUrl().replace(/^http/, 'ws')}/ws`;
export const relayOrigin = (): string => inject('relayOrigin');

/** A username no other test (or earlier run on the same relay) has: USERNAME_PATTERN-valid. */
export function freshName(prefix: string): string {
  const tag = crypto.getRandomValues(new Uint32Array(2)).reduce((a, n) => a + n.toString(36), '');
  return `${prefix}_${tag}`.slice(0, 32);
}

export interface RelayUser {
  readonly username: string;
  readonly api: RelayApi;
  readonly secret: string;
  readonly recoveryCodes: readonly string[];
}

/**
 * Registers and confirms a new account on the real relay (a TOTP code from its secret); on the
 * relay at `baseUrl` when a test runs its own (differently configured) relay.
 */
export function registerOnRelay(
  prefix: string,
  onSessionEnded?: () => void,
  baseUrl = relayUrl(),
): Promise<RelayUser> {
  return registerNamed(freshName(prefix), onSessionEnded, baseUrl);
}

/** Registers exactly `username` (for tests where a name exists only from some point on). */
export async function registerNamed(
  username: string,
  onSessionEnded?: () => void,
  baseUrl = relayUrl(),
): Promise<RelayUser> {
  const api = new RelayApi({
    baseUrl,
    ...(onSessionEnded ? { onSessionEnded } : {}),
  });
  const start = await api.register(username);
  const session = await api.confirmRegistration(start.username, await generate({ secret: start.secret }));
  expect(session.username).toBe(start.username);
  return {
    username: start.username,
    api,
    secret: start.secret,
    recoveryCodes: session.recoveryCodes,
  };
}

/** The same account signed in again (a new device): a fresh RelayApi logged in with a recovery code. */
export async function signInAgain(user: RelayUser, codeIndex = 0): Promise<RelayApi> {
  const code = user.recoveryCodes[codeIndex];
  if (!code) throw new Error('no recovery code left');
  const api = new RelayApi({ baseUrl: relayUrl() });
  await api.login(user.username, code);
  return api;
}

/**
 * A new account with one device set up (spec §16: message routes need a session bound to a
 * device): registered, its keys created in a throwaway store and uploaded — its device 1.
 */
export async function registerWithDevice(prefix: string): Promise<RelayUser> {
  return withDevice(await registerOnRelay(prefix));
}

/** Sets up `user`'s first device on its session (keys in a throwaway store, uploaded). */
export async function withDevice(user: RelayUser): Promise<RelayUser> {
  const storage = await openIdbStorage(`device-${user.username}-${crypto.randomUUID()}`);
  await publishAccountKeys(storage, user.username, user.api);
  return user;
}

/** One copy for the device of an account set up by registerWithDevice (its device 1). */
export const toDevice1 = (body: Uint8Array) => [{ deviceId: 1, body }];
