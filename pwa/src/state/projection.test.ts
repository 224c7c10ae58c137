import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StoredMessage } from '../outbox/records.ts';
import { PhotoRejected } from '../photo/rejected.ts';
import { SecureError } from '../secure/errors.ts';
import type { StoredPeer } from '../secure/records.ts';
import { ApiError } from '../transport/errors.ts';
import { toAppError, toAppErrorCode } from './error-map.ts';
import { AppError } from './errors.ts';
import { compareForDisplay, sortChats, summarise, toChatMessage } from './projection.ts';

const peer = (username: string, addedAt = 0): StoredPeer => ({
  chatId: `c-${username}`,
  username,
  addedAt,
  identityKey: null,
  verified: false,
  keyChanged: false,
  pendingIdentityKey: null,
});

const text = (id: string, direction: 'in' | 'out', at: number, body: string): StoredMessage => ({
  id,
  contact: 'bob',
  direction,
  at,
  storedAt: at,
  state: direction === 'in' ? 'received' : 'sent',
  body: { kind: 'text', text: body },
});

describe('projection to what views see', () => {
  it('counts unread incoming messages stored after the read mark, previews the last one', () => {
    const msgs = [text('1', 'in', 10, 'old'), text('2', 'out', 20, 'mine'), text('3', 'in', 30, 'new 🦊')];
    expect(summarise(peer('bob'), msgs, { readUpTo: 15 })).toEqual({
      contact: 'bob',
      last: { kind: 'text', preview: 'new 🦊', at: 30, outgoing: false },
      unread: 1,
      keyChanged: false,
    });
    expect(summarise(peer('bob'), msgs, undefined).unread).toBe(2);
    expect(summarise(peer('bob'), [], undefined).last).toBeNull();
  });

  it('counts messages that expired unread since the chat was read, apart from unread ones', () => {
    const expired = (id: string, storedAt: number, count: number): StoredMessage => ({
      id,
      contact: 'bob',
      direction: 'in',
      at: 5,
      storedAt,
      state: 'received',
      body: { kind: 'expired', count, firstSentAt: 1, lastSentAt: 5 },
    });
    const msgs = [text('1', 'in', 10, 'old'), expired('e1', 12, 2), expired('e2', 40, 3)];
    expect(summarise(peer('bob'), msgs, { readUpTo: 20 })).toEqual({
      contact: 'bob',
      last: { kind: 'text', preview: 'old', at: 10, outgoing: false },
      unread: 0,
      keyChanged: false,
      expired: 3,
    });
    expect(summarise(peer('bob'), msgs, undefined)).toMatchObject({ unread: 1, expired: 5 });
    expect(summarise(peer('bob'), msgs, { readUpTo: 50 })).not.toHaveProperty('expired');
  });

  it('cuts previews at 100 characters without splitting an emoji', () => {
    const long = '🦊'.repeat(150);
    const s = summarise(peer('bob'), [text('1', 'in', 1, long)], undefined);
    expect([...(s.last?.preview ?? '')]).toHaveLength(100);
    expect(s.last?.preview.endsWith('🦊')).toBe(true);
  });

  it('never hands photo keys or blob ids to views', () => {
    const m: StoredMessage = {
      ...text('p', 'in', 1, ''),
      body: {
        kind: 'photo',
        photo: {
          mime: 'image/jpeg',
          width: 10,
          height: 5,
          size: 99,
          blobId: 'blob',
          ciphertextSha256: new Uint8Array(32),
          thumbnail: new Uint8Array(0),
          messageKey: new Uint8Array(32),
          header: new Uint8Array(44),
        },
      },
    };
    const view = toChatMessage(m, 0.5);
    expect(view.body).toEqual({
      kind: 'photo',
      photo: { mime: 'image/jpeg', width: 10, height: 5, size: 99 },
    });
    expect(view.progress).toBe(0.5);
    expect(JSON.stringify(view)).not.toContain('blob');
  });

  it('sorts chats by latest activity, empty chats by when they were added', () => {
    const a = summarise(peer('a'), [text('1', 'in', 50, 'x')], undefined);
    const b = summarise(peer('b', 70), [], undefined);
    const c = summarise(peer('c'), [text('2', 'in', 90, 'y')], undefined);
    const added: Record<string, number> = { a: 0, b: 70, c: 0 };
    expect(sortChats([a, b, c], (x) => added[x] ?? 0).map((x) => x.contact)).toEqual(['c', 'b', 'a']);
  });
});

describe('error mapping', () => {
  it('maps relay codes and statuses to app codes with the retry hint', () => {
    expect(toAppErrorCode(new ApiError(401, 'code_reused', 'x'))).toBe('code_reused');
    expect(toAppErrorCode(new ApiError(404, 'unknown_user', 'x'))).toBe('unknown_user');
    const locked = toAppError(new ApiError(429, 'locked', 'x', 120));
    expect([locked.code, locked.retryAfter]).toEqual(['locked_out', 120]);
    expect(toAppErrorCode(new ApiError(429, 'something_new', 'x'))).toBe('rate_limited');
    expect(toAppErrorCode(new ApiError(0, 'network', 'x'))).toBe('network');
    expect(toAppErrorCode(new ApiError(500, 'internal', 'x'))).toBe('unknown');
  });

  it('maps the other layers and keeps AppErrors as they are', () => {
    expect(toAppErrorCode(new SecureError('key_change_unacknowledged', 'x'))).toBe(
      'key_change_unacknowledged',
    );
    expect(toAppErrorCode(new SecureError('undecryptable', 'x'))).toBe('unknown');
    expect(toAppErrorCode(new PhotoRejected('too_large'))).toBe('too_large');
    const e = new AppError('cannot_add_self');
    expect(toAppError(e)).toBe(e);
    expect(toAppError(new Error('boom')).code).toBe('unknown');
  });
});

describe('display order (spec/protocol.md §9.1: sender time and order inside the ciphertext)', () => {
  it('shows one sender’s messages in the order they were written, whatever order they arrived in', () => {
    fc.assert(
      fc.property(
        // Sender-side gaps between consecutive messages (0 = same millisecond), and an arrival order.
        fc
          .array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 30 })
          .chain((gaps) =>
            fc.tuple(fc.constant(gaps), fc.shuffledSubarray([...gaps.keys()], { minLength: gaps.length })),
          ),
        ([gaps, arrival]) => {
          let at = 1_700_000_000_000;
          const written = gaps.map((gap, i): StoredMessage => {
            at += gap;
            return { ...text(`m${i}`, 'in', at, `#${i}`), order: i + 1 };
          });
          // Arrival sets storedAt: later arrivals are stored later.
          const arrived = arrival.map((i, k) => ({ ...(written[i] as StoredMessage), storedAt: k }));
          expect([...arrived].sort(compareForDisplay).map((m) => m.id)).toEqual(written.map((m) => m.id));
        },
      ),
    );
  });

  it('orders our messages from two of our devices by order, then — same time and order — by device id (spec §16)', () => {
    const mine = (id: string, order: number, fromDevice: number, storedAt: number): StoredMessage => ({
      ...text(id, 'out', 1000, id),
      order,
      fromDevice,
      storedAt,
      synced: true,
    });
    const shown = [mine('d2-o2', 2, 2, 1), mine('d1-o3', 3, 1, 0), mine('d1-o2', 2, 1, 2)].sort(
      compareForDisplay,
    );
    expect(shown.map((m) => m.id)).toEqual(['d1-o2', 'd2-o2', 'd1-o3']);
  });
});
