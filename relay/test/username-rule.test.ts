// One username rule (spec/openapi.yaml components.schemas.Username), applied in three places:
// the PWA's forms before a round trip (pwa/src/views/username.ts), the relay as the authority
// (src/auth/username.ts) — both through the module generated from the spec — and the CHECK
// constraint users_username_format of migrations/0001_users.sql, run here by a real PostgreSQL.
// All three must say what the spec says and agree on every tricky input, so the form never
// accepts a name the relay refuses (or refuses one it accepts), and the relay never produces a
// name the database refuses.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import * as pwa from '../../pwa/src/views/username.ts';
import * as relay from '../src/auth/username.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';

const spec = parse(
  readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../spec/openapi.yaml'), 'utf8'),
) as { components: { schemas: Record<string, Record<string, unknown>> } };
const usernameSchema = spec.components.schemas.Username ?? {};
const specPattern = usernameSchema.pattern;
const specReserved = (usernameSchema['x-reserved'] ?? []) as string[];

const TRICKY = [
  '',
  'alice',
  'Alice',
  'ALICE99',
  '9lives',
  '123',
  '  bob  ',
  '\tbob',
  'bob\n',
  '\u00a0bob', // no-break space: trimmed by the form, changed by NFKC
  'al ice',
  'al\u200bice', // zero-width space
  'ab',
  'abc',
  'a'.repeat(32),
  'a'.repeat(33),
  'a'.repeat(128),
  'a'.repeat(129),
  '_alice',
  'alice_',
  'al_ice',
  'al__ice',
  '___',
  'al-ice',
  'al.ice',
  'ａｄｍｉｎ', // fullwidth
  'ＡＬＩＣＥ',
  'ﬁle', // ligature
  '\u212Aelvin', // Kelvin sign
  'ⓐlice', // circled letter
  'x²', // superscript digit
  'аlice', // Cyrillic а
  'bοb', // Greek ο
  'alicé', // precomposed é
  'alice\u0301', // combining accent: NFKC composes it
  '\u0130nci', // Turkish İ lowercases to two code points
  'straße',
  ...specReserved,
  'Admin',
  'ADMIN',
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

let db: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  db = await freshDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

/** Whether the users table's CHECK lets `name` be stored (the row is rolled back). */
async function databaseAccepts(name: string): Promise<boolean> {
  await client.query('BEGIN');
  try {
    await client.query(
      `INSERT INTO users (id, username, totp_secret, status, pending_expires_at)
       VALUES ($1, $2, '\\x00', 'pending', now())`,
      [randomUUID(), name],
    );
    return true;
  } catch (err) {
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23514' && e.constraint === 'users_username_format') return false;
    throw err;
  } finally {
    await client.query('ROLLBACK');
  }
}

describe('the username rule', () => {
  it('is read from the spec: its pattern, length bounds and at least the twelve reserved names', () => {
    expect(specPattern).toBe(relay.USERNAME_PATTERN.source);
    expect([pwa.USERNAME_MIN, pwa.USERNAME_MAX]).toEqual([
      usernameSchema.minLength,
      usernameSchema.maxLength,
    ]);
    expect(specReserved.length).toBeGreaterThanOrEqual(12);
    expect([...relay.RESERVED_USERNAMES].sort()).toEqual([...specReserved].sort());
    for (const name of specReserved) expect(pwa.isReservedUsername(name)).toBe(true);
    expect(pwa.isReservedUsername('alice')).toBe(false);
  });

  it.each(TRICKY)('the PWA and the relay agree on %j', (input) => {
    expect(pwaAccepts(input)).toBe(relayAccepts(input));
  });

  it.each(TRICKY)(
    'the migration’s CHECK stores %j exactly when it is a canonical username',
    async (input) => {
      const canonical = relay.normalizeUsername(input) === input;
      expect(pwa.isValidUsername(input)).toBe(canonical);
      expect(await databaseAccepts(input)).toBe(canonical);
      // Whatever the relay makes of the typed text, the database can store it.
      const name = relay.normalizeUsername(input.trim());
      if (name) expect(await databaseAccepts(name)).toBe(true);
    },
  );
});
