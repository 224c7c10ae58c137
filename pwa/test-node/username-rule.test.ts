// One username rule (spec/openapi.yaml components.schemas.Username), checked in two places: the
// PWA before a round trip (src/views/username.ts) and the relay as the authority
// (relay/src/auth/username.ts). Both must say what the spec says — its pattern and its reserved
// names — and agree on every tricky input, so the form never accepts a name the relay refuses
// or refuses one it accepts.
// @vitest-environment node
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as relay from '../../relay/src/auth/username.ts';
import * as pwa from '../src/views/username.ts';

const spec = readFileSync(
  resolve(dirname(fileURLToPath(import.meta.url)), '../../spec/openapi.yaml'),
  'utf8',
);
const usernameSchema = spec.slice(spec.indexOf('\n    Username:\n'), spec.indexOf('\n    UsernameInput:\n'));
const specPattern = /pattern: "([^"]+)"/.exec(usernameSchema)?.[1];
const specReserved = [
  ...(usernameSchema.split('Reserved, refused at registration (`invalid_username`):')[1] ?? '').matchAll(
    /`([a-z0-9_]+)`/g,
  ),
].map((m) => m[1]);

const TRICKY = [
  'alice',
  'Alice',
  '  bob  ',
  'ab',
  'abc',
  'a'.repeat(32),
  'a'.repeat(33),
  '_alice',
  'alice_',
  'al_ice',
  'al__ice',
  'al-ice',
  'al ice',
  'ａｄｍｉｎ',
  'ﬁle',
  '\u212Aelvin',
  'аlice', // Cyrillic а
  'alicé',
  'ALICE99',
  '9lives',
  ...(specReserved as string[]),
  'Admin',
  'admins',
];

/** What the relay registers when the form sends `input` (trimmed, as the form sends it), or null. */
function relayAccepts(input: string): string | null {
  const name = relay.normalizeUsername(input.trim());
  return name && !relay.isReservedUsername(name) ? name : null;
}

/** What the PWA's registration form lets through, or null. */
function pwaAccepts(input: string): string | null {
  const name = pwa.normalizeUsername(input);
  return pwa.isValidUsername(name) && !pwa.isReservedUsername(name) ? name : null;
}

describe('the username rule', () => {
  it('is read from the spec: its pattern and at least the twelve reserved names', () => {
    expect(specPattern).toBe(relay.USERNAME_PATTERN.source);
    expect(specReserved.length).toBeGreaterThanOrEqual(12);
    expect([...relay.RESERVED_USERNAMES].sort()).toEqual([...specReserved].sort());
    for (const name of specReserved) expect(pwa.isReservedUsername(name as string)).toBe(true);
    expect(pwa.isReservedUsername('alice')).toBe(false);
  });

  it.each(TRICKY)('the PWA and the relay agree on %j', (input) => {
    expect(pwaAccepts(input)).toBe(relayAccepts(input));
  });
});
