// The PWA's provisioning payload against spec/provisioning.schema.json (JSON Schema 2020-12,
// ajv, as relay/test checks the frame schema): what encodePayload makes validates, and the
// strict parser (src/state/provisioning-payload.ts) refuses every payload the schema refuses
// — on a set of valid payloads and of one-field departures from them. The parser is stricter
// than the schema only where spec/protocol.md §16.8 says (each contact once, never the account
// itself, at most 200 messages per chat, history only for listed contacts).
// @vitest-environment node
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { encodePayload, type ProvisioningPayload, parsePayload } from '../src/state/provisioning-payload.ts';

const here = dirname(fileURLToPath(import.meta.url));
const schema = JSON.parse(readFileSync(resolve(here, '../../spec/provisioning.schema.json'), 'utf8'));
const validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema);

const key = (n: number) => new Uint8Array(32).fill(n);
const payload: ProvisioningPayload = {
  username: 'alice',
  identitySeed: key(7),
  contacts: [
    {
      username: 'bob',
      identityKey: key(1),
      verified: true,
      refusedKeys: [key(2)],
      accepted: true,
      blocked: false,
    },
    {
      username: 'carol_2',
      identityKey: key(250),
      verified: false,
      refusedKeys: [],
      accepted: false,
      blocked: true,
    },
  ],
  history: [
    { peer: 'bob', fromMe: false, sentAt: 1, order: 1, text: 'Привет 🦊' },
    { peer: 'bob', fromMe: true, sentAt: 2, order: 2, text: '' },
    { peer: 'carol_2', fromMe: true, sentAt: 3, order: 9, text: null },
  ],
};

const parses = (v: unknown) => {
  try {
    parsePayload(new TextEncoder().encode(JSON.stringify(v)));
    return true;
  } catch {
    return false;
  }
};

describe('provisioning payload and spec/provisioning.schema.json', () => {
  it('what the PWA encodes validates against the schema, with and without history', () => {
    for (const p of [payload, { ...payload, history: [] }, { ...payload, contacts: [], history: [] }]) {
      const json = JSON.parse(new TextDecoder().decode(encodePayload(p)));
      expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
      expect(parses(json)).toBe(true);
    }
  });

  it('every departure the schema refuses, the parser refuses too', () => {
    const base = JSON.parse(new TextDecoder().decode(encodePayload(payload)));
    const variants: unknown[] = [];
    const topLevel = ['v', 'username', 'identity_seed', 'contacts', 'history', 'lock_hint'];
    const odd = [
      null,
      0,
      1,
      2,
      -1,
      1.5,
      '',
      'x',
      'Alice',
      true,
      [],
      {},
      'A'.repeat(44),
      `${'A'.repeat(42)}B=`,
    ];
    for (const field of topLevel) {
      const { [field]: _gone, ...without } = base;
      variants.push(without);
      for (const value of odd) variants.push({ ...base, [field]: value });
    }
    variants.push({ ...base, extra: null });
    const contactFields = ['username', 'identity_key', 'verified', 'refused_keys', 'accepted', 'blocked'];
    for (const field of contactFields) {
      const { [field]: _gone, ...without } = base.contacts[0];
      variants.push({ ...base, contacts: [without, base.contacts[1]] });
      for (const value of odd)
        variants.push({ ...base, contacts: [{ ...base.contacts[0], [field]: value }, base.contacts[1]] });
    }
    for (const value of [[], ['A'.repeat(44)], Array(5).fill(base.contacts[0].refused_keys[0])])
      variants.push({ ...base, contacts: [{ ...base.contacts[0], refused_keys: value }, base.contacts[1]] });
    const historyFields = ['peer', 'from_me', 'sent_at', 'order', 'text', 'photo'];
    for (const field of historyFields) {
      const { [field]: _gone, ...without } = base.history[0];
      variants.push({ ...base, history: [without] });
      for (const value of [...odd, 2 ** 53, 'x'.repeat(61_424), { a: 1 }])
        variants.push({ ...base, history: [{ ...base.history[0], [field]: value }] });
    }
    let refused = 0;
    for (const v of variants) {
      if (validate(v)) continue;
      refused++;
      expect(parses(v), JSON.stringify(v).slice(150)).toBe(false);
    }
    expect(refused).toBeGreaterThan(100);
  });
});
