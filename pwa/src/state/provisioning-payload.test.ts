// The provisioning payload's strict parser (spec/protocol.md §16, spec/provisioning.schema.json):
// what it accepts round-trips, and each way a payload could overreach — an extra field, a
// contact without a key, history for someone who is not a contact, more than 200
// messages in a chat, a non-canonical name — links nothing.
import { base64 } from '@scure/base';
import { describe, expect, it } from 'vitest';
import {
  encodePayload,
  encodePayloadWithin,
  HISTORY_PER_CHAT,
  PayloadError,
  type ProvisioningPayload,
  parsePayload,
} from './provisioning-payload.ts';

const key = (n: number) => new Uint8Array(32).fill(n);

const sample: ProvisioningPayload = {
  username: 'alice',
  identitySeed: key(7),
  contacts: [
    {
      username: 'bob',
      identityKey: key(1),
      verified: true,
      refusedKeys: [key(9), key(8)],
      accepted: true,
      blocked: false,
    },
    {
      username: 'carol',
      identityKey: key(2),
      verified: false,
      refusedKeys: [],
      accepted: false,
      blocked: false,
    },
  ],
  history: [
    { peer: 'bob', fromMe: false, sentAt: 1_700_000_000_000, order: 1, text: 'Привет 🦊' },
    { peer: 'bob', fromMe: true, sentAt: 1_700_000_001_000, order: 2, text: 'hi' },
    { peer: 'bob', fromMe: true, sentAt: 1_700_000_002_000, order: 3, text: null },
  ],
};

const json = (p: ProvisioningPayload) => JSON.parse(new TextDecoder().decode(encodePayload(p)));
const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('provisioning payload', () => {
  it('round-trips, in the schema’s field names', () => {
    const wire = json(sample);
    expect(Object.keys(wire).sort()).toEqual([
      'contacts',
      'history',
      'identity_seed',
      'lock_hint',
      'username',
      'v',
    ]);
    expect(wire.v).toBe(1);
    expect(wire.identity_seed).toBe(base64.encode(key(7)));
    expect(wire.history[0]).toEqual({
      peer: 'bob',
      from_me: false,
      sent_at: 1_700_000_000_000,
      order: 1,
      text: 'Привет 🦊',
      photo: null,
    });
    expect(parsePayload(encodePayload(sample))).toEqual(sample);
    // Refused keys go only where there are some.
    expect(wire.contacts[0].refused_keys).toEqual([base64.encode(key(9)), base64.encode(key(8))]);
    expect('refused_keys' in wire.contacts[1]).toBe(false);
    // History is optional.
    const { history: _h, ...noHistory } = wire;
    expect(parsePayload(bytes(noHistory)).history).toEqual([]);
  });

  it('refuses what overreaches', () => {
    const base = json(sample);
    const bad: [string, (w: typeof base) => unknown][] = [
      ['an unknown top-level field', (w) => ({ ...w, extra: 1 })],
      ['an unknown contact field', (w) => ({ ...w, contacts: [{ ...w.contacts[0], note: 'x' }] })],
      ['another version', (w) => ({ ...w, v: 2 })],
      [
        'a contact without a key',
        (w) => ({ ...w, contacts: [{ ...w.contacts[1], identity_key: null }], history: [] }),
      ],
      ['no lock_hint', (w) => ({ ...w, lock_hint: undefined })],
      ['order 0', (w) => ({ ...w, history: [{ ...w.history[0], order: 0 }] })],
      ['a non-canonical key encoding', (w) => ({ ...w, identity_seed: `${w.identity_seed.slice(0, 42)}B=` })],
      [
        'history with someone not a contact',
        (w) => ({ ...w, history: [{ ...w.history[0], peer: 'mallory' }] }),
      ],
      ['a photo', (w) => ({ ...w, history: [{ ...w.history[0], photo: { id: 1 } }] })],
      [
        'a text over the schema’s bound',
        (w) => ({ ...w, history: [{ ...w.history[0], text: 'x'.repeat(61_424) }] }),
      ],
      [
        'a non-canonical name',
        (w) => ({ ...w, contacts: [{ ...w.contacts[0], username: 'Bob' }], history: [] }),
      ],
      [
        'the account itself as a contact',
        (w) => ({ ...w, contacts: [{ ...w.contacts[0], username: 'alice' }], history: [] }),
      ],
      ['a contact twice', (w) => ({ ...w, contacts: [w.contacts[0], w.contacts[0]] })],
      ['a short seed', (w) => ({ ...w, identity_seed: base64.encode(new Uint8Array(31)) })],
      [
        'a 33-byte key',
        (w) => ({ ...w, contacts: [{ ...w.contacts[0], identity_key: base64.encode(new Uint8Array(33)) }] }),
      ],
      [
        'five refused keys',
        (w) => ({
          ...w,
          contacts: [
            { ...w.contacts[0], refused_keys: [1, 2, 3, 4, 5].map((n) => base64.encode(key(n))) },
            w.contacts[1],
          ],
        }),
      ],
      [
        'an empty list of refused keys',
        (w) => ({ ...w, contacts: [{ ...w.contacts[0], refused_keys: [] }, w.contacts[1]] }),
      ],
      [
        'a refused key twice',
        (w) => ({
          ...w,
          contacts: [
            { ...w.contacts[0], refused_keys: [base64.encode(key(9)), base64.encode(key(9))] },
            w.contacts[1],
          ],
        }),
      ],
      [
        'the trusted key refused',
        (w) => ({
          ...w,
          contacts: [{ ...w.contacts[0], refused_keys: [w.contacts[0].identity_key] }, w.contacts[1]],
        }),
      ],
      [
        'a refused key of 31 bytes',
        (w) => ({
          ...w,
          contacts: [{ ...w.contacts[0], refused_keys: [base64.encode(new Uint8Array(31))] }, w.contacts[1]],
        }),
      ],
      ['a fractional time', (w) => ({ ...w, history: [{ ...w.history[0], sent_at: 1.5 }] })],
      ['a lock hint', (w) => ({ ...w, lock_hint: 'my dog' })],
      [
        'more than 200 messages in a chat',
        (w) => ({ ...w, history: Array.from({ length: HISTORY_PER_CHAT + 1 }, () => w.history[0]) }),
      ],
    ];
    for (const [what, change] of bad)
      expect(() => parsePayload(bytes(change(structuredClone(base)))), what).toThrow(PayloadError);
    expect(() => parsePayload(new Uint8Array([0xff, 0xfe]))).toThrow(PayloadError);
    expect(() => parsePayload(bytes([1, 2]))).toThrow(PayloadError);
  });

  it('keeps within the size limit by sending fewer (the newest) messages per chat', () => {
    const long = 'x'.repeat(1000);
    const history = Array.from({ length: HISTORY_PER_CHAT }, (_, i) => ({
      peer: 'bob',
      fromMe: i % 2 === 0,
      sentAt: i,
      order: i,
      text: long,
    }));
    const out = parsePayload(encodePayloadWithin({ ...sample, history }, 60_000));
    expect(out.history.length).toBeGreaterThan(0);
    expect(out.history.length).toBeLessThan(HISTORY_PER_CHAT);
    expect(out.history.at(-1)?.sentAt).toBe(HISTORY_PER_CHAT - 1);
    expect(encodePayloadWithin({ ...sample, history }, 60_000).length).toBeLessThanOrEqual(60_000);
  });
});
