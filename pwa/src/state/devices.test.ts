// Linking, over the real crypto-core cipher and a real (fake-indexeddb) store, with the relay
// played by a stub (the relay routes are tested in relay/; the whole flow in e2e/linked-devices):
// the new device gets the contacts with their trusted keys and verified marks and the recent
// texts; a relay that swaps the ML-KEM key behind a code, a payload for another account, or a
// payload whose seed is not the published identity links nothing.
import { generateIdentity } from '@secure-drop/crypto-core/identity';
import { describe, expect, it } from 'vitest';
import type { StoredMessage } from '../outbox/records.ts';
import { createAccountKeys } from '../secure/account-keys.ts';
import { RECORD, type StoredPeer } from '../secure/records.ts';
import { type KeyServer, SessionManager } from '../secure/session-manager.ts';
import { openIdbStorage } from '../storage/idb-storage.ts';
import type { Storage } from '../storage/storage.ts';
import type { RelayApi } from '../transport/api.ts';
import { ApiError } from '../transport/errors.ts';
import {
  approveLink,
  collectPayload,
  describeThisDevice,
  importPayload,
  inspectLinkCode,
  openLinkPayload,
  openLinkRequest,
  waitForProvisioning,
} from './devices.ts';
import { AppError } from './errors.ts';
import { encodePayload, parsePayload } from './provisioning-payload.ts';

const store = () => openIdbStorage(`devices-${crypto.randomUUID()}`);
const codeOf = (e: unknown) => (e instanceof AppError ? e.code : String(e));

/** An existing device: alice with bob (verified), carol (a message request) and history with bob. */
async function existingDevice(): Promise<{ s: Storage; identityKey: Uint8Array }> {
  const s = await store();
  const keys = await createAccountKeys(s, 'alice');
  const peer = (username: string, extra: Partial<StoredPeer>): StoredPeer => ({
    chatId: crypto.randomUUID(),
    username,
    addedAt: 1,
    identityKey: new Uint8Array(32).fill(username.length),
    verified: false,
    keyChanged: false,
    pendingIdentityKey: null,
    ...extra,
  });
  const bob = peer('bob', { verified: true });
  const carol = peer('carol', { request: true });
  // Never wrote or was written to: no key known, not transferred (the relay's list brings it).
  const dave = peer('dave', { identityKey: null });
  for (const p of [bob, carol, dave]) await s.put(RECORD.peer(p.chatId), p);
  const msg = (i: number, direction: 'in' | 'out', text: string): StoredMessage => ({
    id: `m${i}`,
    contact: 'bob',
    direction,
    at: 1_700_000_000_000 + i,
    ...(direction === 'in' ? { order: i } : {}),
    storedAt: 1_700_000_000_000 + i,
    state: direction === 'in' ? 'received' : 'delivered',
    body: { kind: 'text', text },
  });
  for (let i = 1; i <= 205; i++)
    await s.putMessage(bob.chatId, `m${i}`, msg(i, i % 2 ? 'in' : 'out', `text ${i}`));
  return { s, identityKey: keys.identityKey as Uint8Array };
}

/** The relay as the two devices see it: one provisioning address, in memory. */
function stubRelay(published: Uint8Array, options: { swapKey?: boolean } = {}) {
  let pqKey: Uint8Array | null = null;
  let message: Uint8Array | null = null;
  const address = 'AAAAAAAAAAAAAAAAAAAAAA';
  const api = {
    async createProvisioning(ek: Uint8Array) {
      pqKey = ek;
      return { address, expiresAt: new Date(Date.now() + 300_000).toISOString() };
    },
    async provisioning(a: string) {
      if (a !== address || !pqKey) throw new ApiError(404, 'not_found', 'no');
      const key = options.swapKey ? new Uint8Array(pqKey.length).fill(9) : pqKey;
      return { pqKey: key, name: 'Chromium on Android', kind: 'phone', createdAt: '', expiresAt: '' };
    },
    async putProvisioning(a: string, m: Uint8Array) {
      if (message) throw new ApiError(409, 'provisioning_used', 'used');
      expect(a).toBe(address);
      message = m;
    },
    async provisioningMessage() {
      return message;
    },
    async identity(username: string) {
      return { username, identityKey: published, signedPreKeyId: 1, pqPreKeyId: 1, deviceIds: [1] };
    },
  };
  return api as unknown as RelayApi;
}

describe('linking a device', () => {
  it('the new device gets the contacts (trusted keys, verified marks, requests) and the last 200 texts per chat, shown read', async () => {
    const { s: laptop, identityKey } = await existingDevice();
    const relay = stubRelay(identityKey);
    const phone = describeThisDevice(
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36',
    );
    expect(phone).toEqual({ name: 'Chrome on Android', kind: 'phone' });
    const pending = await openLinkRequest(relay, phone);
    expect(pending.uri).toMatch(/^securedrop-link:[A-Za-z0-9_-]{108}$/);

    const candidate = await inspectLinkCode(relay, pending.uri);
    expect(candidate).toMatchObject({ name: 'Chromium on Android', kind: 'phone' });
    await approveLink(relay, laptop, candidate, { history: true });
    // Works once.
    expect(await approveLink(relay, laptop, candidate, { history: true }).catch(codeOf)).toBe('link_used');

    const message = await waitForProvisioning(relay, pending, new AbortController().signal, Date.now, 1);
    const opened = await openLinkPayload(relay, pending, message, 'alice');
    expect(opened.keyPair.publicKey).toEqual(identityKey);
    const fresh = await store();
    await importPayload(fresh, opened.payload, 1_800_000_000_000);
    const peers = (await fresh.list<StoredPeer>(RECORD.peerPrefix)).map((r) => r.value);
    const bob = peers.find((p) => p.username === 'bob');
    const carol = peers.find((p) => p.username === 'carol');
    expect(bob).toMatchObject({ verified: true, identityKey: new Uint8Array(32).fill(3), keyChanged: false });
    expect(bob?.request).toBeUndefined();
    expect(carol).toMatchObject({ verified: false, identityKey: new Uint8Array(32).fill(5), request: true });
    expect(peers.map((p) => p.username).sort()).toEqual(['bob', 'carol']);
    const texts = (await fresh.messages<StoredMessage>(bob?.chatId ?? '')).map((r) => r.value);
    expect(texts).toHaveLength(200);
    expect(texts[0]?.body).toEqual({ kind: 'text', text: 'text 6' });
    expect(texts.at(-1)).toMatchObject({ direction: 'in', state: 'received', order: 205 });
    expect(texts.at(-2)).toMatchObject({ direction: 'out', state: 'sent' });
    // The next message from here is numbered after this account's own imported (spec §9.1
    // across devices): the 100 of alice's among the 200, not after bob's orders.
    expect(bob?.sentOrder).toBe(100);
    expect(await fresh.get(`chatmeta:${bob?.chatId}`)).toEqual({ readUpTo: 1_800_000_000_000 });
  });

  it('without the history option only contacts travel', async () => {
    const { s } = await existingDevice();
    const p = await collectPayload(s, false);
    expect(p.history).toEqual([]);
    expect(p.contacts.map((c) => c.username).sort()).toEqual(['bob', 'carol']);
  });

  it('attack: the relay swaps the ML-KEM key behind the code — refused before anything is sealed', async () => {
    const { identityKey } = await existingDevice();
    const relay = stubRelay(identityKey, { swapKey: true });
    const pending = await openLinkRequest(relay, describeThisDevice(''));
    expect(await inspectLinkCode(relay, pending.uri).catch(codeOf)).toBe('link_mismatch');
    expect(await inspectLinkCode(relay, 'securedrop-link:nope').catch(codeOf)).toBe('link_invalid');
    expect(await relay.provisioningMessage('AAAAAAAAAAAAAAAAAAAAAA')).toBeNull();
  });

  it('attack: a payload whose identity is not the account’s published key, or for another account, links nothing', async () => {
    const { s: laptop, identityKey } = await existingDevice();
    // The relay publishes another key for alice than the one in the payload.
    const relay = stubRelay(generateIdentity().publicKey);
    const pending = await openLinkRequest(relay, describeThisDevice(''));
    await approveLink(relay, laptop, await inspectLinkCode(relay, pending.uri), { history: false });
    const message = (await relay.provisioningMessage(pending.address)) as Uint8Array;
    expect(await openLinkPayload(relay, pending, message, 'alice').catch(codeOf)).toBe('link_wrong_account');
    expect(await openLinkPayload(stubRelay(identityKey), pending, message, 'mallory').catch(codeOf)).toBe(
      'link_wrong_account',
    );
    // Tampered: nothing opens.
    const tampered = message.slice();
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    expect(await openLinkPayload(stubRelay(identityKey), pending, tampered, 'alice').catch(codeOf)).toBe(
      'link_invalid',
    );
  });
});

describe('history from a hostile contact', () => {
  // `order` is each SENDER's own counter (spec/protocol.md §9.1, §16.5); bob chooses his, up to
  // 2^53 − 1, and the laptop stores it with his message. The payload numbered alice's own
  // messages after bob's orders (2^53 for one after his), which the new device refuses as a
  // whole, and the new device continued its own counter after bob's (2^53 − 1), so that every
  // send from it in that chat failed (an order of 2^53 cannot be framed).
  it('attack: bob’s order 2^53 − 1 neither breaks the link nor the new device’s sends', async () => {
    const s = await store();
    const keys = await createAccountKeys(s, 'alice');
    const bob: StoredPeer = {
      chatId: crypto.randomUUID(),
      username: 'bob',
      addedAt: 1,
      identityKey: new Uint8Array(32).fill(3),
      verified: false,
      keyChanged: false,
      pendingIdentityKey: null,
      sentOrder: 7,
      lastSentAt: 1_700_000_000_003,
    };
    await s.put(RECORD.peer(bob.chatId), bob);
    const msg = (i: number, direction: 'in' | 'out', order?: number): StoredMessage => ({
      id: `m${i}`,
      contact: 'bob',
      direction,
      at: 1_700_000_000_000 + i,
      ...(order !== undefined ? { order } : {}),
      storedAt: 1_700_000_000_000 + i,
      state: direction === 'in' ? 'received' : 'delivered',
      body: { kind: 'text', text: `text ${i}` },
    });
    await s.putMessage(bob.chatId, 'm1', msg(1, 'out'));
    await s.putMessage(bob.chatId, 'm2', msg(2, 'in', Number.MAX_SAFE_INTEGER));
    await s.putMessage(bob.chatId, 'm3', msg(3, 'out'));

    const relay = stubRelay(keys.identityKey as Uint8Array);
    const pending = await openLinkRequest(relay, describeThisDevice(''));
    await approveLink(relay, s, await inspectLinkCode(relay, pending.uri), { history: true });
    const message = await waitForProvisioning(relay, pending, new AbortController().signal, Date.now, 1);
    const opened = await openLinkPayload(relay, pending, message, 'alice');
    const fresh = await store();
    await importPayload(fresh, opened.payload);
    const imported = (await fresh.list<StoredPeer>(RECORD.peerPrefix)).map((r) => r.value);
    // The laptop's own counter carries on (its last two sends were 6 and 7), not bob's.
    expect(imported[0]?.sentOrder).toBe(7);
    const rows = (await fresh.messages<StoredMessage>(imported[0]?.chatId ?? '')).map((r) => r.value);
    expect(rows.map((m) => [m.direction, m.order])).toEqual([
      ['out', undefined],
      ['in', Number.MAX_SAFE_INTEGER],
      ['out', undefined],
    ]);
  });
});

describe('linking during a key change (SECURITY.md "Trust model")', () => {
  const K_OLD = new Uint8Array(32).fill(3);
  const K_RELAY = generateIdentity().publicKey; // the key the relay now publishes for bob
  /** The relay's answer to the new device's key check: bob's key is K_RELAY. */
  const relayKeys = {
    async identity(username: string) {
      return { username, identityKey: K_RELAY, signedPreKeyId: 1, pqPreKeyId: 1, deviceIds: [1] };
    },
  } as unknown as KeyServer;

  async function laptopWithBob(bob: Partial<StoredPeer>): Promise<Storage> {
    const s = await store();
    await createAccountKeys(s, 'alice');
    const peer: StoredPeer = {
      chatId: crypto.randomUUID(),
      username: 'bob',
      addedAt: 1,
      identityKey: K_OLD,
      verified: false,
      keyChanged: false,
      pendingIdentityKey: null,
      ...bob,
    };
    await s.put(RECORD.peer(peer.chatId), peer);
    return s;
  }

  /** The payload as it travels: collected, encoded, parsed and imported on a new store. */
  async function link(laptop: Storage): Promise<Storage> {
    const phone = await store();
    await importPayload(phone, parsePayload(encodePayload(await collectPayload(laptop, false))));
    return phone;
  }

  it('attack: a change the relay forged before the link cannot be clicked through on the new device when bob was verified', async () => {
    // Bob was verified on K_OLD; the relay published K_RELAY, and the laptop holds the change.
    const laptop = await laptopWithBob({
      keyChanged: true,
      pendingIdentityKey: K_RELAY,
      verifiedBeforeChange: true,
      keyChangedAt: 5,
    });
    await expect(
      new SessionManager(laptop, relayKeys).acknowledgeKeyChange('bob', 'click'),
    ).rejects.toMatchObject({
      code: 'verification_required',
    });
    // Linked meanwhile, the phone learns of the same change from the relay, and it needs a scan
    // there too: it used to import bob as never verified, and one click accepted K_RELAY.
    const onPhone = new SessionManager(await link(laptop), relayKeys);
    expect(await onPhone.checkIdentity('bob')).toMatchObject({ keyChanged: true, identityKey: K_OLD });
    await expect(onPhone.acknowledgeKeyChange('bob', 'click')).rejects.toMatchObject({
      code: 'verification_required',
    });
  });

  it('attack: a key refused on the laptop raises no change again on a device linked later', async () => {
    const laptop = await laptopWithBob({ verified: true, refusedKeys: [K_RELAY] });
    expect(await new SessionManager(laptop, relayKeys).checkIdentity('bob')).toMatchObject({
      keyChanged: false,
    });
    const phone = await link(laptop);
    expect(await new SessionManager(phone, relayKeys).checkIdentity('bob')).toMatchObject({
      keyChanged: false,
      verified: true,
    });
  });
});
