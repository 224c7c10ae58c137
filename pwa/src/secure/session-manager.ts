// The session manager over crypto-core (spec/protocol.md §5–§9, §11): keeps each contact's Double
// Ratchet sessions in the encrypted Storage, starts sessions from fetched bundles, answers
// initial messages with this device's prekeys, and serialises every encrypt/decrypt of one
// conversation through a KeyedMutex. A decrypted message is handed back only after its
// plaintext (the caller's writes) and the new ratchet state are stored in ONE transaction, so
// the caller can acknowledge it to the relay right after.
//
// Sessions per contact: the current one and up to MAX_ARCHIVED_SESSIONS older ones, newest
// first. Both sides may start a session at the same time; each then holds two, and a ratchet
// message is tried against each stored session in turn (as Signal's session records do) — the
// one that opens it becomes current, so the two sides converge on one session.
//
// Replay defence (spec/protocol.md §6.3): every accepted initial message leaves a
// durable replay record (its base key and the prekey ids it used), written in the same
// transaction as the session it created and kept as long as the signed prekey it used
// (prekey-lifecycle.ts deletes both together). An initial message whose base key is recorded —
// or held by any stored session — is refused as a duplicate whatever happened to the session
// since; a DUPLICATE_MESSAGE never falls back to accepting a new session. And a session created
// from an initial message never replaces a current one whose ratchet has moved on: it is
// archived behind it, and becomes current only when a later message of it opens.
import { CryptoCoreError } from '@secure-drop/crypto-core/errors';
import {
  type acceptSession,
  type ContentType,
  decryptMessage,
  type initiateSession,
  messageKind,
  parseInitialMessage,
  type SessionState,
} from '@secure-drop/crypto-core/session';
import { deserializeSession, serializeSession } from '@secure-drop/crypto-core/session-codec';
import type { Storage, WriteOp, WriteOptions } from '../storage/storage.ts';
import {
  type Bundle,
  type DeviceBundles,
  type Identity,
  type KeysUpload,
  MAX_DEVICES,
} from '../transport/api.ts';
import {
  loadIdentity,
  loadOneTimePqPreKey,
  loadOneTimePreKey,
  loadPqPreKey,
  loadPrekeyState,
  loadSignedPreKey,
  newOneTimePreKeys,
  requireIdentity,
} from './account-keys.ts';
import {
  acceptFrom,
  decodeSyncBody,
  encodeSyncBody,
  type SyncContent,
  sealOn,
  startSession,
} from './device-crypto.ts';
import { SecureError } from './errors.ts';
import { KeyedMutex } from './mutex.ts';
import {
  type MaintenanceOptions,
  type MaintenanceResult,
  maintainPrekeys,
  nextMaintenanceAt,
  publishPendingOneTime,
} from './prekey-lifecycle.ts';
import {
  MAX_REFUSED_KEYS,
  RECORD,
  type StoredPeer,
  type StoredReplayRecord,
  trustedKeyVerified,
} from './records.ts';

/**
 * Older sessions kept per contact behind the current one: libsignal's
 * ARCHIVED_STATES_MAX_LENGTH (session_structure.rs), for messages still in flight on them and
 * so that their base keys stay known.
 */
export const MAX_ARCHIVED_SESSIONS = 40;
/**
 * Sessions per contact device under an identity key other than the trusted one (a key change
 * not accepted yet), newest first; older ones go first. A relay can start such sessions at will
 * — a first message needs no one's secret — so they must not push the sessions under the
 * trusted key out of MAX_ARCHIVED_SESSIONS (SECURITY.md, "Trust model"). A contact who really
 * started over makes one per device; a few spare allow for retries.
 */
export const MAX_UNTRUSTED_SESSIONS = 4;

/** What the session manager needs from the relay (RelayApi implements it). */
export interface KeyServer {
  /**
   * Bundles of `username`'s devices (all, or those of `deviceIds`) — each spends one of that
   * device's one-time prekeys: only to start sessions.
   */
  bundles(username: string, deviceIds?: readonly number[]): Promise<DeviceBundles>;
  /** The identity key and prekey ids only; spends nothing (key-change check, safety screen). */
  identity(username: string): Promise<Identity>;
  uploadKeys(keys: KeysUpload): Promise<unknown>;
  /** This account's key status (prekey-lifecycle.ts asks it when the relay says "stale"). */
  keyStatus?(): Promise<{ signed_prekey_id: number | null; pq_prekey_id: number | null }>;
}

/** One operation at a time per key (KeyedMutex); injectable so tests can remove the lock. */
export interface ConversationLocks {
  run<T>(key: string, task: () => Promise<T>): Promise<T>;
}

export interface SessionManagerOptions {
  readonly locks?: ConversationLocks;
  /** The device clock (ms): prekey schedule and the sender time of messages. */
  readonly clock?: () => number;
  /**
   * Writes stored in the same transaction as a newly seen key change (the chat's timeline
   * entry, SECURITY.md "Trust model": the change stays visible in history).
   */
  readonly onKeyChange?: (peer: StoredPeer) => WriteOp[];
  /**
   * An incoming message (a first message from someone not added, or a sync copy of ours to
   * someone this device has no chat with) created a chat: the app reads the account's lists,
   * which may name them as blocked (spec/protocol.md §16.4).
   */
  readonly onNewChat?: (peer: StoredPeer) => void;
}

/** What goes inside a sealed message with its body (spec/protocol.md §9.1). */
export interface OutgoingMeta {
  /** The sender's time of the message (ms). */
  readonly sentAt: number;
}

/** One sealed copy for one device. */
export interface SealedCopy {
  readonly deviceId: number;
  readonly body: Uint8Array;
}

/**
 * One message sealed for every device (SessionManager.sealFanOut): the frame it carries —
 * kept, so that a device added before the relay took it gets its copy with the same sentAt
 * and order (spec §16) — and one copy per recipient device and per own other device.
 */
export interface SealedSend {
  readonly contentType: 'text' | 'photo';
  /** The plaintext body: the text, or the §10.4 photo message. */
  readonly body: Uint8Array;
  readonly sentAt: number;
  readonly order: number;
  readonly recipient: readonly SealedCopy[];
  /** Sync copies (content type sync) for this account's other devices. */
  readonly own: readonly SealedCopy[];
}

/** The relay's current device lists (409 stale_devices). */
export interface DeviceLists {
  readonly recipient: readonly number[];
  readonly own: readonly number[];
}

export interface DecryptedIncoming {
  /** The chat: the sender — or, for a sync copy, the peer our other device wrote to. */
  readonly peer: StoredPeer;
  readonly contentType: 'text' | 'photo' | 'control';
  /** The sender's device it came from. */
  readonly fromDevice?: number;
  /** A sync copy from another device of this account: a message WE sent to `peer`. */
  readonly synced?: true;
  readonly body: Uint8Array;
  /** The sender's time and per-conversation order number, from inside the ciphertext. */
  readonly sentAt: number;
  readonly order: number;
  /** This message came with an identity key other than the trusted one. */
  readonly keyChanged: boolean;
  /** A stranger's control message: nothing was stored for it, `peer` is not a contact. */
  readonly ignored?: true;
}

const sameBytes = (a: Uint8Array | null, b: Uint8Array | null) =>
  a !== null && b !== null && a.length === b.length && a.every((v, i) => v === b[i]);

/** Whether the user refused `key` for `peer` (refuseKeyChange). */
const isRefused = (peer: StoredPeer, key: Uint8Array) =>
  peer.refusedKeys?.some((k) => sameBytes(k, key)) ?? false;

const newChatId = () => crypto.randomUUID();

/** The relay's bundle (spec/openapi.yaml PrekeyBundle) as crypto-core's initiator takes it. */
export function prekeyBundleOf(bundle: Bundle): Parameters<typeof initiateSession>[1] {
  return {
    identityKey: bundle.identityKey,
    signedPreKey: bundle.signedPreKey,
    pqPreKey: {
      kind: bundle.pqPreKey.kind === 'one_time' ? 'one-time' : 'last-resort',
      id: bundle.pqPreKey.id,
      publicKey: bundle.pqPreKey.publicKey,
      signature: bundle.pqPreKey.signature,
    },
    ...(bundle.oneTimePreKey ? { oneTimePreKey: bundle.oneTimePreKey } : {}),
  };
}

/**
 * Whether anything may be sealed or sent to `peer` now: not while its key change waits for the
 * user (SECURITY.md, "Trust model"), nor while the account's block list names it
 * (spec/protocol.md §16.4); and not to a chat deleted here (its outbox items must not follow).
 */
export function assertSendable(peer: StoredPeer | undefined): asserts peer is StoredPeer {
  if (!peer) throw new SecureError('unknown_peer', 'not a contact');
  if (peer.keyChanged) throw new SecureError('key_change_unacknowledged', 'identity key changed');
  if (peer.blocked) throw new SecureError('contact_blocked', 'the account blocked this contact');
}

/** The lock a chat not made yet is created under, by a first message or by adding the user. */
const newPeerLock = (username: string) => `new-peer:${username}`;

export class SessionManager {
  /**
   * The peer records as last read or written by this manager, by username: the one copy the
   * signed-in app reads synchronously (contacts, chat ids, message requests). Storage stays the
   * truth inside the per-chat locks; every write of a peer record goes through commit(), which
   * updates this map once the transaction has committed.
   */
  private readonly known = new Map<string, StoredPeer>();
  private readonly locks: ConversationLocks;
  private readonly clock: () => number;
  private readonly onKeyChange: (peer: StoredPeer) => WriteOp[];
  private readonly onNewChat: (peer: StoredPeer) => void;
  /**
   * The account's block list as this device last read or changed it (RECORD.listedBlocked,
   * loaded with the peers): a chat an incoming message creates for a user it names is marked
   * blocked in the write that creates it, not only once the list read onNewChat asks for has
   * returned, and so also after a reload, before the lists are read again (spec/protocol.md §16.4).
   */
  private listedBlocked = new Set<string>();

  constructor(
    private readonly storage: Storage,
    private readonly keyServer: KeyServer,
    options: SessionManagerOptions = {},
  ) {
    this.locks = options.locks ?? new KeyedMutex();
    this.clock = options.clock ?? Date.now;
    this.onKeyChange = options.onKeyChange ?? (() => []);
    this.onNewChat = options.onNewChat ?? (() => undefined);
  }

  /** The peer record write of a flagged peer, plus the key-change writes if the change is new. */
  private flaggedOps(before: StoredPeer, flagged: StoredPeer): WriteOp[] {
    const ops: WriteOp[] = [{ kind: 'put', key: RECORD.peer(flagged.chatId), value: flagged }];
    if (flagged !== before) ops.push(...this.onKeyChange(flagged));
    return ops;
  }

  /** Writes `ops` in one transaction; the peer records among them then update `known`. */
  private async commit(ops: readonly WriteOp[], options?: WriteOptions): Promise<void> {
    await this.storage.write(ops, options);
    for (const op of ops) {
      if (!('key' in op) || !op.key.startsWith(RECORD.peerPrefix)) continue;
      if (op.kind === 'put') {
        const peer = op.value as StoredPeer;
        this.known.set(peer.username, peer);
      } else {
        const chatId = op.key.slice(RECORD.peerPrefix.length);
        for (const [name, peer] of this.known) if (peer.chatId === chatId) this.known.delete(name);
      }
    }
  }

  // ── contacts (peers) ─────────────────────────────────────────────────────────────────

  async peers(): Promise<StoredPeer[]> {
    return (await this.storage.list<StoredPeer>(RECORD.peerPrefix)).map((r) => r.value);
  }

  /**
   * Reads every stored peer record into `known` (once, before the manager is used; later
   * changes reach `known` through commit()).
   */
  async loadPeers(): Promise<StoredPeer[]> {
    const peers = await this.peers();
    for (const peer of peers) this.known.set(peer.username, peer);
    this.listedBlocked = new Set((await this.storage.get<string[]>(RECORD.listedBlocked)) ?? []);
    return peers;
  }

  /** The account's block list as just read from the relay (listedBlocked). */
  async setListedBlocked(usernames: Iterable<string>): Promise<void> {
    const next = new Set(usernames);
    this.listedBlocked = next;
    await this.storage.put(RECORD.listedBlocked, [...next].sort());
  }

  /** A block (`listed`) or an unblock made on this device (listedBlocked). */
  async noteBlock(username: string, listed: boolean): Promise<void> {
    const next = new Set(this.listedBlocked);
    if (listed) next.add(username);
    else next.delete(username);
    await this.setListedBlocked(next);
  }

  /** The peer record of `username` as last read or written here, without reading storage. */
  knownPeer(username: string): StoredPeer | undefined {
    return this.known.get(username);
  }

  /** Every peer record as last read or written here. */
  knownPeers(): IterableIterator<StoredPeer> {
    return this.known.values();
  }

  async peer(username: string): Promise<StoredPeer | undefined> {
    return (await this.peers()).find((p) => p.username === username);
  }

  /** A new peer record, not stored. */
  private newPeer(username: string, addedAt = this.clock()): StoredPeer {
    return {
      chatId: newChatId(),
      username,
      addedAt,
      identityKey: null,
      verified: false,
      keyChanged: false,
      pendingIdentityKey: null,
      sentOrder: 0,
    };
  }

  /**
   * The record of a chat an incoming message opens: a stranger's is a message request (a sync
   * copy's is a contact, we wrote to them); either is marked blocked from the start when the
   * block list names them (listedBlocked).
   */
  private incomingPeer(username: string, request: boolean): StoredPeer {
    const peer = this.newPeer(username);
    return {
      ...peer,
      ...(request ? { request: true } : {}),
      ...(this.listedBlocked.has(username) ? { blocked: true } : {}),
    };
  }

  /**
   * Adds a contact locally (idempotent); returns its record. A message request becomes a
   * contact; `onAdd`'s writes go in the same transaction as that, or as the record of a contact
   * not known here (`created`), and in neither case for a contact already here.
   */
  async addPeer(
    username: string,
    addedAt = this.clock(),
    onAdd: (peer: StoredPeer, how: 'accepted' | 'created') => WriteOp[] = () => [],
  ): Promise<StoredPeer> {
    const onAccept = (accepted: StoredPeer) => onAdd(accepted, 'accepted');
    const existing = await this.peer(username);
    if (existing) return this.acceptRequest(existing, onAccept);
    // Under the lock a first message from them is stored under (decrypt): a request stored
    // meanwhile is found and accepted, not doubled by a second record.
    return this.locks.run(newPeerLock(username), async () => {
      const stored = await this.peer(username);
      if (stored) return this.acceptRequest(stored, onAccept);
      const peer = this.newPeer(username, addedAt);
      await this.commit([
        { kind: 'put', key: RECORD.peer(peer.chatId), value: peer },
        ...onAdd(peer, 'created'),
      ]);
      return peer;
    });
  }

  /**
   * A message request `peer` becomes a contact, with `onAccept`'s writes in the same
   * transaction; a contact is returned as it is. Under the chat's lock, as every write of a peer
   * record: a message being stored meanwhile read the request and would write it back.
   */
  private acceptRequest(
    peer: StoredPeer,
    onAccept: (accepted: StoredPeer) => WriteOp[],
  ): Promise<StoredPeer> {
    if (!peer.request) return Promise.resolve(peer);
    return this.locks.run(peer.chatId, async () => {
      const current = (await this.peer(peer.username)) ?? peer;
      if (!current.request) return current;
      const { request: _r, ...accepted } = current;
      await this.commit([
        { kind: 'put', key: RECORD.peer(current.chatId), value: accepted },
        ...onAccept(accepted),
      ]);
      return accepted;
    });
  }

  /**
   * Runs `task` under the lock of the chat `chatId`, the one every write of its peer record and
   * its deletion (removePeer) take: what the outbox writes to a chat goes under it too, so it
   * lands wholly before a deletion or after it (OutboxDeps.inChat).
   */
  inChat<T>(chatId: string, task: () => Promise<T>): Promise<T> {
    return this.locks.run(chatId, task);
  }

  /**
   * The chat with `username` gone from this device: its peer record, sessions and order, with
   * `more`'s writes in the same transaction (gathered under the chat's lock, so after a seal in
   * progress has stored what it sealed), then its messages. A sync copy for the chat is stored
   * under its lock too (decryptSync): before the deletion, which takes it, or after, in a chat of
   * its own — never in the deleted one.
   */
  async removePeer(
    username: string,
    more: (peer: StoredPeer) => Promise<WriteOp[]> = async () => [],
  ): Promise<void> {
    const peer = await this.peer(username);
    if (!peer) return;
    await this.locks.run(peer.chatId, async () => {
      const ops: WriteOp[] = [
        { kind: 'delete', key: RECORD.peer(peer.chatId) },
        { kind: 'delete', key: RECORD.session(peer.chatId) },
        { kind: 'delete', key: RECORD.syncedOrder(peer.chatId) },
      ];
      for (const { key } of await this.storage.list(RECORD.sessionsOf(peer.chatId)))
        ops.push({ kind: 'delete', key });
      ops.push(...(await more(peer)));
      await this.commit(ops);
      await this.storage.deleteChat(peer.chatId);
    });
  }

  private async requirePeer(username: string): Promise<StoredPeer> {
    const peer = await this.peer(username);
    if (!peer) throw new SecureError('unknown_peer', 'not a contact');
    return peer;
  }

  private async ownName(): Promise<string> {
    const id = await loadIdentity(this.storage);
    if (!id) throw new Error('no identity key on this device');
    return id.username;
  }

  // ── sessions ─────────────────────────────────────────────────────────────────────────

  /**
   * The stored sessions with one device of a chat, current first (UNSUPPORTED_VERSION for a
   * v1 state). Device 1 also finds the sessions a store from before linked devices kept under
   * the chat alone (the relay made every existing device its account's device 1).
   */
  async loadSessions(chatId: string, deviceId = 1): Promise<SessionState[]> {
    let stored = await this.storage.get<Uint8Array[]>(RECORD.session(chatId, deviceId));
    if (stored === undefined && deviceId === 1)
      stored = await this.storage.get<Uint8Array[]>(RECORD.session(chatId));
    return (stored ?? []).map((bytes) => deserializeSession(bytes));
  }

  /**
   * Writes a contact device's sessions, newest first, bounded: with `trusted` (the contact's
   * trusted identity key) at most MAX_UNTRUSTED_SESSIONS under any other key.
   */
  private sessionsOps(
    chatId: string,
    deviceId: number,
    sessions: SessionState[],
    trusted?: Uint8Array | null,
  ): WriteOp[] {
    let untrusted = 0;
    const bounded = trusted
      ? sessions.filter(
          (s) => sameBytes(s.remoteIdentityKey, trusted) || ++untrusted <= MAX_UNTRUSTED_SESSIONS,
        )
      : sessions;
    const ops: WriteOp[] = [
      {
        kind: 'put',
        key: RECORD.session(chatId, deviceId),
        value: bounded.slice(0, 1 + MAX_ARCHIVED_SESSIONS).map((s) => serializeSession(s)),
      },
    ];
    // The pre-devices record is device 1's: once written under the new name it goes.
    if (deviceId === 1) ops.push({ kind: 'delete', key: RECORD.session(chatId) });
    return ops;
  }

  private async loadOwnSessions(deviceId: number): Promise<SessionState[]> {
    const stored = await this.storage.get<Uint8Array[]>(RECORD.ownSession(deviceId));
    return (stored ?? []).map((bytes) => deserializeSession(bytes));
  }

  private ownSessionsOp(deviceId: number, sessions: SessionState[]): WriteOp {
    return {
      kind: 'put',
      key: RECORD.ownSession(deviceId),
      value: sessions.slice(0, 1 + MAX_ARCHIVED_SESSIONS).map((s) => serializeSession(s)),
    };
  }

  /** The contact's devices this device seals for (StoredPeer.devices; device 1 for an old store). */
  async recipientDevices(peer: StoredPeer): Promise<readonly number[]> {
    if (peer.devices) return peer.devices;
    return (await this.storage.get(RECORD.session(peer.chatId))) ? [1] : [];
  }

  /** This account's other devices as last learnt. */
  async ownDevices(): Promise<readonly number[]> {
    return (await this.storage.get<number[]>(RECORD.ownDevices)) ?? [];
  }

  /**
   * The user learnt (Settings → Devices, a devices_changed item) that this account's devices
   * are `deviceIds`: a removed device gets nothing further, and the next send seals for the
   * new ones.
   */
  async setOwnDevices(deviceIds: readonly number[]): Promise<void> {
    await this.locks.run(OWN_LOCK, async () => {
      const self = await this.storage.get<number>(RECORD.deviceId);
      const next = sortedIds(deviceIds.filter((d) => d !== self));
      // Removed devices leave the list, so nothing is sealed for them again; their sessions stay,
      // to open what they sent before their removal (spec/protocol.md §16.9).
      await this.commit([{ kind: 'put', key: RECORD.ownDevices, value: next }]);
    });
  }

  /**
   * A new identity key seen for `peer`: held pending until the user accepts it. The same
   * pending key seen again changes nothing (its time stays that of the first sighting); whether
   * the contact was verified is remembered, so the change cannot be clicked through.
   */
  private flagKeyChange(peer: StoredPeer, newKey: Uint8Array): StoredPeer {
    if (peer.keyChanged && sameBytes(peer.pendingIdentityKey, newKey)) return peer;
    return {
      ...peer,
      keyChanged: true,
      verified: false,
      verifiedBeforeChange: trustedKeyVerified(peer),
      keyChangedAt: this.clock(),
      pendingIdentityKey: newKey.slice(),
    };
  }

  /**
   * Encrypts a text for `username`'s devices (and sync copies for our own): sealFanOut, with
   * the recipient copy of the lowest device id returned — what a single-device caller sends.
   */
  async encryptText(
    username: string,
    text: string,
    persist: (wire: Uint8Array) => WriteOp[] = () => [],
    meta: Partial<OutgoingMeta> = {},
  ): Promise<Uint8Array> {
    const sealed = await this.sealFanOut(
      username,
      { contentType: 'text', body: new TextEncoder().encode(text) },
      (s) => persist(firstCopy(s)),
      meta,
    );
    return firstCopy(sealed);
  }

  /**
   * Seals one message for every device of `username` plus a sync copy (spec §16) for every
   * other device of this account, all with the same frame (sentAt, order — §9.1). Sessions
   * missing for a device are started from bundles fetched for those devices only. The new
   * ratchet states, the peer record and the caller's `persist` writes (the sealed set kept in
   * the outbox) commit in ONE transaction with strict durability, because they advance sending
   * chains (spec/protocol.md §15: sealing under a rolled-back state).
   */
  async sealFanOut(
    username: string,
    content: { readonly contentType: 'text' | 'photo'; readonly body: Uint8Array },
    persist: (sealed: SealedSend) => WriteOp[] = () => [],
    meta: Partial<OutgoingMeta> = {},
  ): Promise<SealedSend> {
    const peer0 = await this.requirePeer(username);
    return this.locks.run(peer0.chatId, () =>
      this.locks.run(OWN_LOCK, async () => {
        const peer = await this.requirePeer(username);
        assertSendable(peer);
        const synced = (await this.storage.get<number>(RECORD.syncedOrder(peer.chatId))) ?? 0;
        const order = Math.max(peer.sentOrder ?? 0, synced) + 1;
        // The sender's time never goes backwards along the order (a clock set back), so the
        // receiver's order by (time, order) is the sending order.
        const sentAt = Math.max(meta.sentAt ?? this.clock(), peer.lastSentAt ?? 0);
        const frame = { contentType: content.contentType, body: content.body, sentAt, order };
        const lists = { recipient: await this.recipientDevices(peer), own: await this.ownDevices() };
        const { sealed, ops, peer: next } = await this.sealFor(peer, lists, frame, null);
        const withOrder: StoredPeer = { ...next, sentOrder: order, lastSentAt: sentAt };
        await this.commit(
          [...ops, { kind: 'put', key: RECORD.peer(peer.chatId), value: withOrder }, ...persist(sealed)],
          { durability: 'strict' },
        );
        return sealed;
      }),
    );
  }

  /**
   * The relay refused a send as stale (409 stale_devices, spec §16): `current` are its device
   * lists. Devices no longer listed get nothing further (their sessions are kept for receiving),
   * bundles are fetched for the new devices only, and only their copies are sealed —
   * the copies of unchanged devices stay the same bytes. Same frame, so the caller resends the
   * whole set under the same client_id.
   */
  async resealFanOut(
    username: string,
    previous: SealedSend,
    current: DeviceLists,
    persist: (sealed: SealedSend) => WriteOp[] = () => [],
  ): Promise<SealedSend> {
    const peer0 = await this.requirePeer(username);
    return this.locks.run(peer0.chatId, () =>
      this.locks.run(OWN_LOCK, async () => {
        const peer = await this.requirePeer(username);
        assertSendable(peer);
        const self = await this.storage.get<number>(RECORD.deviceId);
        const lists = {
          recipient: sortedIds(current.recipient),
          own: sortedIds(current.own.filter((d) => d !== self)),
        };
        // Devices no longer listed get nothing sealed from now on (the lists are stored with the
        // peer and as our own devices); their sessions stay, to open what they sent before their
        // removal and is still on its way to us (spec/protocol.md §16.9).
        const { sealed, ops: sealOps, peer: next } = await this.sealFor(peer, lists, previous, previous);
        await this.commit(
          [...sealOps, { kind: 'put', key: RECORD.peer(peer.chatId), value: next }, ...persist(sealed)],
          { durability: 'strict' },
        );
        return sealed;
      }),
    );
  }

  /**
   * Seals `frame` for the devices of `lists` (reusing `keep`'s copy of a device when there is
   * one), starting the sessions that are missing. Called under the chat's and OWN_LOCK.
   * Returns the writes (sessions, own device list) and the peer record with its device list;
   * nothing is written here except a key change found in a fetched bundle (which throws).
   */
  private async sealFor(
    peer: StoredPeer,
    lists: { readonly recipient: readonly number[]; readonly own: readonly number[] },
    frame: Frame,
    keep: SealedSend | null,
  ): Promise<{ sealed: SealedSend; ops: WriteOp[]; peer: StoredPeer }> {
    const identity = await requireIdentity(this.storage);
    const me = await this.ownName();
    const ops: WriteOp[] = [];
    let trusted = peer;

    // Recipient devices: the current session of each, or one started from a fresh bundle.
    let recipientIds = [...lists.recipient];
    const sessions = new Map<number, SessionState[]>();
    const missing: number[] = [];
    for (const d of recipientIds) {
      if (keep?.recipient.some((c) => c.deviceId === d)) continue;
      const list = await this.loadSessions(peer.chatId, d);
      sessions.set(d, list);
      const current = list[0];
      if (!current || !peer.identityKey || !sameBytes(current.remoteIdentityKey, peer.identityKey))
        missing.push(d);
    }
    if (recipientIds.length === 0 || missing.length > 0) {
      // Only here are bundles fetched: each spends one of that device's one-time prekeys.
      const all = recipientIds.length === 0;
      const fetched = await this.keyServer.bundles(peer.username, all ? undefined : missing);
      if (peer.identityKey && isRefused(peer, fetched.identityKey))
        throw new SecureError('key_change_unacknowledged', 'the relay serves a key the user refused');
      if (peer.identityKey && !sameBytes(peer.identityKey, fetched.identityKey)) {
        const flagged = this.flagKeyChange(peer, fetched.identityKey);
        await this.commit(this.flaggedOps(peer, flagged));
        throw new SecureError('key_change_unacknowledged', 'identity key changed');
      }
      // Trust on first use: the first identity key seen for a contact becomes the trusted one.
      if (!trusted.identityKey) trusted = { ...trusted, identityKey: fetched.identityKey.slice() };
      const got = new Set<number>();
      for (const b of fetched.devices) {
        if (!all && !missing.includes(b.deviceId)) continue;
        got.add(b.deviceId);
        // The name bound is the one asked for, never the relay's label of its answer: a relay
        // serving another account's bundle must fail the handshake (spec/protocol.md §5.4).
        const session = startSession(
          identity,
          prekeyBundleOf(b),
          { initiator: me, responder: peer.username },
          false,
        );
        sessions.set(b.deviceId, [session, ...(sessions.get(b.deviceId) ?? [])]);
      }
      // A device without a complete bundle cannot be sealed for; the relay's next answer says
      // whether it still counts.
      recipientIds = all ? [...got] : recipientIds.filter((d) => !missing.includes(d) || got.has(d));
      if (all && recipientIds.length === 0)
        throw new SecureError('unknown_peer', 'the contact has no device');
    }
    recipientIds = sortedIds(recipientIds);

    // Own other devices: sibling sessions, same identity key as ours (spec §16).
    let ownIds = [...lists.own];
    const own = new Map<number, SessionState[]>();
    const ownMissing: number[] = [];
    for (const d of ownIds) {
      if (keep?.own.some((c) => c.deviceId === d)) continue;
      const list = await this.loadOwnSessions(d);
      own.set(d, list);
      const current = list[0];
      if (!current || !sameBytes(current.remoteIdentityKey, identity.publicKey)) ownMissing.push(d);
    }
    if (ownMissing.length > 0) {
      const fetched = await this.keyServer.bundles(me, ownMissing);
      // Our own devices share our identity key; a bundle under another key is not ours to seal
      // for (the account was started over elsewhere: the own-identity warning handles that).
      const got = new Set<number>();
      if (sameBytes(fetched.identityKey, identity.publicKey))
        for (const b of fetched.devices) {
          if (!ownMissing.includes(b.deviceId)) continue;
          got.add(b.deviceId);
          const session = startSession(identity, prekeyBundleOf(b), { initiator: me, responder: me }, true);
          own.set(b.deviceId, [session, ...(own.get(b.deviceId) ?? [])]);
        }
      ownIds = ownIds.filter((d) => !ownMissing.includes(d) || got.has(d));
    }
    ownIds = sortedIds(ownIds);

    const stamp = { sentAt: frame.sentAt, order: frame.order };
    const recipient = await sealCopies(
      recipientIds,
      keep?.recipient,
      sessions,
      frame.contentType,
      frame.body,
      stamp,
      (d, list) => ops.push(...this.sessionsOps(peer.chatId, d, list)),
    );
    const syncBody = ownIds.length
      ? encodeSyncBody({ peer: peer.username, contentType: frame.contentType, body: frame.body })
      : null;
    const ownCopies = await sealCopies(
      ownIds,
      keep?.own,
      own,
      'sync',
      syncBody as Uint8Array,
      stamp,
      (d, list) => ops.push(this.ownSessionsOp(d, list)),
    );
    ops.push({ kind: 'put', key: RECORD.ownDevices, value: ownIds });
    return {
      sealed: { ...frame, recipient, own: ownCopies },
      ops,
      peer: { ...trusted, devices: recipientIds },
    };
  }

  /**
   * Decrypts a message from device `fromDevice` of `sender`. `persist` returns the writes that
   * store its plaintext; they are applied in the same transaction as the new ratchet state
   * (and, for an initial message, the replay record and the deletion of the used one-time
   * prekeys). Resolves only after that transaction committed.
   * A message from this account's own other device must be a sync copy (spec §16): it is
   * returned with `synced` and `peer` = the chat it was sent in. A sync copy from any other
   * account, or anything but a sync copy from our own, is refused as undecryptable.
   * Throws SecureError('undecryptable' | 'no_session' | 'duplicate') for a message that cannot
   * be opened.
   */
  async decrypt(
    sender: string,
    wire: Uint8Array,
    persist: (result: DecryptedIncoming) => WriteOp[],
    fromDevice = 1,
  ): Promise<DecryptedIncoming> {
    if (sender === (await this.ownName())) return this.decryptSync(fromDevice, wire, persist);
    return this.inLookedUpChat(sender, (known) =>
      this.storeIncoming(sender, wire, persist, fromDevice, known),
    );
  }

  /**
   * Runs `store` with the chat of `username` as looked up now; again while it answers 'moved'
   * (the chat was created or deleted between the look-up and its lock), bounded: only a store
   * that changes that chat on every attempt keeps it moving, and the message then comes again.
   */
  private async inLookedUpChat<T>(
    username: string,
    store: (known: StoredPeer | undefined) => Promise<T | 'moved'>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const stored = await store(await this.peer(username));
      if (stored !== 'moved') return stored;
      if (attempt === CHAT_LOCK_ATTEMPTS) throw new Error('the chat of a message kept changing');
    }
  }

  /** decrypt under the lock of `known`'s chat, or of a new chat with `sender`. */
  private storeIncoming(
    sender: string,
    wire: Uint8Array,
    persist: (result: DecryptedIncoming) => WriteOp[],
    fromDevice: number,
    known: StoredPeer | undefined,
  ): Promise<DecryptedIncoming | 'moved'> {
    // A sender who is not a contact gets a peer record only in the transaction that stores a
    // message that opened: a message that cannot be decrypted never creates a contact or a
    // chat (SECURITY.md, "Trust model"). Until then its lock is named by the username.
    return this.locks.run(known?.chatId ?? newPeerLock(sender), async () => {
      const stored = await this.peer(sender);
      // Stored under another chat's lock, a message could land in a chat just deleted, or
      // overwrite the record of one just created.
      if (stored?.chatId !== known?.chatId) return 'moved';
      let peer = stored ? await this.roomForDevice(stored, fromDevice) : this.incomingPeer(sender, true);
      const sessions = await this.loadSessions(peer.chatId, fromDevice);
      const { opened, accepted } = await this.open(sender, wire, sessions, false);
      if (opened.contentType === 'sync')
        throw new SecureError('undecryptable', 'a sync copy from another account');
      if (!stored && opened.contentType === 'control')
        return this.ignoreStrangerControl(peer, opened, persist);

      let keyChanged = false;
      let changeOps: WriteOp[] = [];
      const remote = opened.session.remoteIdentityKey;
      // Under a key the user refused (refuseKeyChange): not opened, nothing stored, no change
      // raised again.
      if (isRefused(peer, remote))
        throw new SecureError('undecryptable', 'sent under a key the user refused');
      if (!peer.identityKey) peer = { ...peer, identityKey: remote.slice() };
      else if (!sameBytes(peer.identityKey, remote)) {
        keyChanged = true;
        const flagged = this.flagKeyChange(peer, remote);
        if (flagged !== peer) changeOps = this.onKeyChange(flagged);
        peer = flagged;
      }
      // A device that wrote to us is one of the contact's (under a changed key, its sessions
      // are the ones kept when the user accepts the new key); roomForDevice made room for it.
      const devices = await this.recipientDevices(peer);
      if (!devices.includes(fromDevice)) peer = { ...peer, devices: sortedIds([...devices, fromDevice]) };
      const result = resultOf(peer, opened, keyChanged, fromDevice);
      const ops: WriteOp[] = [
        ...this.sessionsOps(
          peer.chatId,
          fromDevice,
          arrange(sessions, opened, accepted, keyChanged),
          peer.identityKey,
        ),
        { kind: 'put', key: RECORD.peer(peer.chatId), value: peer },
      ];
      if (accepted) ops.push(...accepted.ops);
      ops.push(...changeOps, ...persist(result));
      await this.commit(ops, accepted ? { durability: 'strict' } : {});
      if (!stored) this.onNewChat(peer);
      return result;
    });
  }

  /**
   * Room in a contact's device list for `device`, which has just written. The relay names the
   * device and never reuses an id (relay/migrations/0070_devices.sql), so a list already as long
   * as any account's may be (MAX_DEVICES) is first brought in line with the devices the relay
   * lists: those it no longer lists go, with their sessions. A device it does not list then gets
   * no room and its message is refused, so first messages "from" ever new devices grow neither
   * the list nor the sessions kept (MAX_UNTRUSTED_SESSIONS each), while a contact who has used
   * many device ids over the years is still heard from a new one.
   */
  private async roomForDevice(peer: StoredPeer, device: number): Promise<StoredPeer> {
    const devices = await this.recipientDevices(peer);
    if (devices.includes(device) || devices.length < MAX_DEVICES) return peer;
    const listed = new Set((await this.keyServer.identity(peer.username)).deviceIds);
    const next: StoredPeer = { ...peer, devices: devices.filter((d) => listed.has(d)) };
    const gone = devices.filter((d) => !listed.has(d));
    await this.commit([
      ...gone.flatMap((d): WriteOp[] => [
        { kind: 'delete', key: RECORD.session(peer.chatId, d) },
        // Device 1's sessions may still be under the name from before linked devices.
        ...(d === 1 ? [{ kind: 'delete', key: RECORD.session(peer.chatId) } as const] : []),
      ]),
      { kind: 'put', key: RECORD.peer(peer.chatId), value: next },
    ]);
    if ((next.devices?.length ?? 0) >= MAX_DEVICES || !listed.has(device))
      throw new SecureError('undecryptable', 'a device the relay does not list, with no room for it');
    return next;
  }

  /**
   * A message from another device of this account: only a sync copy (spec §16), with our own
   * identity key. Shown in the chat with its peer as sent by us; a peer not known here becomes
   * a contact (we wrote to it) — never a message request. The chat's order counter learns its
   * order, so our next message is numbered after it.
   *
   * Stored under the chat's lock (a new chat's: the lock a first message or an add takes), then
   * OWN_LOCK, the order a seal takes them in: so a deletion of the chat, an add of its contact or
   * a conversion of its request runs wholly before or after the store, never between its read
   * and its write. The chat is named inside the ciphertext, so the copy is opened once under
   * OWN_LOCK alone to learn it, nothing stored (opening has no side effects), then again under
   * both locks.
   */
  private async decryptSync(
    fromDevice: number,
    wire: Uint8Array,
    persist: (result: DecryptedIncoming) => WriteOp[],
  ): Promise<DecryptedIncoming> {
    const named = await this.locks.run(
      OWN_LOCK,
      async () => (await this.openSync(fromDevice, wire)).sync.peer,
    );
    return this.inLookedUpChat(named, (known) => this.storeSync(fromDevice, wire, persist, named, known));
  }

  /** decryptSync under the locks of `known`'s chat, or of a new chat with `named`. */
  private storeSync(
    fromDevice: number,
    wire: Uint8Array,
    persist: (result: DecryptedIncoming) => WriteOp[],
    named: string,
    known: StoredPeer | undefined,
  ): Promise<DecryptedIncoming | 'moved'> {
    return this.locks.run(known?.chatId ?? newPeerLock(named), () =>
      this.locks.run(OWN_LOCK, async () => {
        const { me, sessions, opened, accepted, sync } = await this.openSync(fromDevice, wire);
        // The same bytes open the same way, unless the sessions moved on meanwhile (then the
        // copy was a duplicate, refused by openSync).
        if (sync.peer !== named) throw new SecureError('undecryptable', 'a sync copy that changed');
        if (sync.peer === me) throw new SecureError('undecryptable', 'a sync copy to ourselves');
        const existing = await this.peer(sync.peer);
        if (existing?.chatId !== known?.chatId) return 'moved';
        const peer = existing ?? this.incomingPeer(sync.peer, false);
        const ops: WriteOp[] = [];
        if (!existing) ops.push({ kind: 'put', key: RECORD.peer(peer.chatId), value: peer });
        const synced = (await this.storage.get<number>(RECORD.syncedOrder(peer.chatId))) ?? 0;
        if (opened.order > synced)
          ops.push({ kind: 'put', key: RECORD.syncedOrder(peer.chatId), value: opened.order });
        const own = await this.ownDevices();
        if (!own.includes(fromDevice))
          ops.push({ kind: 'put', key: RECORD.ownDevices, value: sortedIds([...own, fromDevice]) });
        const result: DecryptedIncoming = {
          ...resultOf(peer, { ...opened, contentType: sync.contentType, body: sync.body }, false, fromDevice),
          synced: true,
        };
        ops.unshift(this.ownSessionsOp(fromDevice, arrange(sessions, opened, accepted, false)));
        if (accepted) ops.push(...accepted.ops);
        ops.push(...persist(result));
        await this.commit(ops, accepted ? { durability: 'strict' } : {});
        if (!existing) this.onNewChat(peer);
        return result;
      }),
    );
  }

  /** Opens a sync copy from `fromDevice` (decryptSync): nothing is stored. */
  private async openSync(fromDevice: number, wire: Uint8Array) {
    const me = await this.ownName();
    const identity = await requireIdentity(this.storage);
    const sessions = await this.loadOwnSessions(fromDevice);
    const { opened, accepted } = await this.open(me, wire, sessions, true);
    if (!sameBytes(opened.session.remoteIdentityKey, identity.publicKey))
      throw new SecureError('undecryptable', 'own device with another identity key');
    if (opened.contentType !== 'sync') throw new SecureError('undecryptable', 'not a sync copy');
    let sync: SyncContent;
    try {
      sync = decodeSyncBody(opened.body);
    } catch (err) {
      throw new SecureError('undecryptable', 'malformed sync copy', { cause: err });
    }
    return { me, sessions, opened, accepted, sync };
  }

  /** Opens `wire` with a stored session, or as a new session from an initial message. */
  private async open(
    sender: string,
    wire: Uint8Array,
    sessions: SessionState[],
    sibling: boolean,
  ): Promise<{ opened: Opened; accepted: Accepted | null }> {
    let kind: 'initial' | 'ratchet';
    try {
      kind = messageKind(wire);
    } catch (err) {
      throw new SecureError('undecryptable', 'malformed message', { cause: err });
    }
    const tried = await this.tryExisting(sessions, wire);
    if (tried) return { opened: tried, accepted: null };
    if (kind !== 'initial') throw new SecureError('no_session', 'no session opens this message');
    const accepted = await this.accept(sender, wire, sessions, sibling);
    return { opened: { ...accepted.result, index: -1 }, accepted };
  }

  /**
   * A control message (the app sends none) from someone with no chat here is treated as if it
   * never arrived (spec/protocol.md §8, "Control messages"): no contact, chat, request or session
   * is stored and no one-time prekey is spent, so it can neither open a conversation nor probe
   * for a delivery receipt. Only the caller's writes (its cursor) are applied.
   */
  private async ignoreStrangerControl(
    peer: StoredPeer,
    opened: Opened,
    persist: (result: DecryptedIncoming) => WriteOp[],
  ): Promise<DecryptedIncoming> {
    const result: DecryptedIncoming = {
      peer,
      contentType: 'control',
      body: opened.body,
      sentAt: opened.sentAt,
      order: opened.order,
      keyChanged: false,
      ignored: true,
    };
    const ops = persist(result);
    if (ops.length) await this.commit(ops);
    return result;
  }

  private async tryExisting(sessions: SessionState[], wire: Uint8Array): Promise<Opened | null> {
    for (const [index, s] of sessions.entries()) {
      try {
        const r = await decryptMessage(s, wire);
        return { ...r, index };
      } catch (err) {
        // A message key already used: a redelivery or a replay. Never retried as a new session.
        if (err instanceof CryptoCoreError && err.code === 'DUPLICATE_MESSAGE')
          throw new SecureError('duplicate', 'duplicate message', { cause: err });
        // Another session may open it; try the next.
      }
    }
    return null;
  }

  /**
   * Answers an initial message no stored session opens: refused as a duplicate when its base
   * key is in the replay log or held by a stored session; otherwise a new session, with the
   * writes that record it and delete the one-time prekeys it used.
   */
  private async accept(
    sender: string,
    wire: Uint8Array,
    sessions: SessionState[],
    sibling: boolean,
  ): Promise<Accepted> {
    try {
      const header = parseInitialMessage(wire);
      // spec/protocol.md §6.3: a known base key is a replay, refused before any other work —
      // also when the one-time prekeys it used are long deleted.
      const known = await this.knownBaseKeys(sessions);
      if (known.has(hex(header.baseKey)))
        throw new SecureError('duplicate', 'initial message already accepted');
      const identity = await requireIdentity(this.storage);
      const [signedPreKey, pqPreKey, oneTimePreKey] = await Promise.all([
        loadSignedPreKey(this.storage, header.signedPreKeyId),
        header.pqPreKeyKind === 'one-time'
          ? loadOneTimePqPreKey(this.storage, header.pqPreKeyId)
          : loadPqPreKey(this.storage, header.pqPreKeyId),
        header.oneTimePreKeyId === undefined
          ? undefined
          : loadOneTimePreKey(this.storage, header.oneTimePreKeyId),
      ]);
      if (!signedPreKey || !pqPreKey) throw new SecureError('undecryptable', 'unknown prekey');
      const result = await acceptFrom(
        { identity, signedPreKey, pqPreKey, oneTimePreKey },
        wire,
        {
          initiator: sender,
          responder: await this.ownName(),
          isKnownBaseKey: (baseKey) => known.has(hex(baseKey)),
        },
        sibling,
      );
      const record: StoredReplayRecord = { ...result.replayRecord, acceptedAt: this.clock() };
      const ops: WriteOp[] = [
        { kind: 'put', key: RECORD.replay(record.signedPreKeyId, crypto.randomUUID()), value: record },
      ];
      if (result.usedOneTimePreKeyId !== undefined)
        ops.push({ kind: 'delete', key: RECORD.oneTimePreKey(result.usedOneTimePreKeyId) });
      if (result.usedOneTimePqPreKeyId !== undefined)
        ops.push({ kind: 'delete', key: RECORD.oneTimePqPreKey(result.usedOneTimePqPreKeyId) });
      return { result, ops };
    } catch (err) {
      if (err instanceof SecureError) throw err;
      if (err instanceof CryptoCoreError && err.code === 'DUPLICATE_MESSAGE')
        throw new SecureError('duplicate', 'initial message already accepted', { cause: err });
      // Only the protocol's refusal makes it undecryptable (and acknowledged away): a read of
      // this device's keys that failed is the store's failure, and the message comes again.
      if (!(err instanceof CryptoCoreError)) throw err;
      throw new SecureError('undecryptable', 'initial message rejected', { cause: err });
    }
  }

  /** Base keys of every accepted initial message still recorded, and of the stored sessions. */
  private async knownBaseKeys(sessions: SessionState[]): Promise<Set<string>> {
    const known = new Set(sessions.map((s) => hex(s.baseKey)));
    for (const { value } of await this.storage.list<StoredReplayRecord>(RECORD.replayPrefix))
      known.add(hex(value.baseKey));
    return known;
  }

  // ── key changes and verification ────────────────────────────────────────────────────

  /**
   * The relay announced a new identity key for `username`: learn it now, so the chat warns.
   * Uses the identity route, which spends none of the contact's one-time prekeys.
   */
  async checkIdentity(username: string): Promise<StoredPeer | undefined> {
    const peer0 = await this.peer(username);
    if (!peer0) return undefined;
    return this.locks.run(peer0.chatId, async () => {
      const peer = (await this.peer(username)) ?? peer0;
      const { identityKey } = await this.keyServer.identity(username);
      if (!peer.identityKey) {
        const trusted = { ...peer, identityKey: identityKey.slice() };
        await this.commit([{ kind: 'put', key: RECORD.peer(peer.chatId), value: trusted }]);
        return trusted;
      }
      // A key the user refused raises no change again (refuseKeyChange): the relay still serves it.
      if (sameBytes(peer.identityKey, identityKey) || isRefused(peer, identityKey)) return peer;
      const flagged = this.flagKeyChange(peer, identityKey);
      await this.commit(this.flaggedOps(peer, flagged));
      return flagged;
    });
  }

  /**
   * The user accepted the pending identity key: trust it, drop sessions with the old one.
   * `how`: 'scanned' — the safety QR of exactly `key` was scanned and matched (the contact is
   * then verified); 'without-verifying' — the deliberate second step (shown unverified);
   * 'click' — the plain acknowledgement, refused with `verification_required` for a contact
   * that was verified before the change (SECURITY.md, "Trust model"). `key` must be the
   * pending key the user looked at: if another change arrived meanwhile, nothing is accepted.
   * `extra(peer)` adds writes to the same transaction (the outbox re-seal, a timeline entry).
   */
  async acknowledgeKeyChange(
    username: string,
    how: 'click' | 'without-verifying' | 'scanned' = 'click',
    key?: Uint8Array,
    extra: (peer: StoredPeer) => WriteOp[] = () => [],
  ): Promise<StoredPeer> {
    const peer0 = await this.requirePeer(username);
    return this.locks.run(peer0.chatId, async () => {
      const peer = await this.requirePeer(username);
      if (!peer.keyChanged || !peer.pendingIdentityKey) return peer;
      const newKey = peer.pendingIdentityKey;
      if (key && !sameBytes(key, newKey))
        throw new SecureError('key_change_unacknowledged', 'the pending key changed again');
      if (how === 'scanned' && !key) throw new TypeError('a scanned acceptance names the key');
      if (how === 'click' && peer.verifiedBeforeChange)
        throw new SecureError('verification_required', 'verify the new key or accept it explicitly');
      return this.settle(peer, newKey, { identityKey: newKey, verified: how === 'scanned' }, extra);
    });
  }

  /**
   * The user refused the pending identity key: the contact's own screen, scanned, showed the
   * TRUSTED key, so the new one is not theirs (SECURITY.md, "Trust model"). The change goes with
   * every session under the pending key, and the contact is verified: the scan proved the
   * trusted key. `trusted` and `pending` are the keys the scan was compared with; if either is
   * not what the contact holds now (another change arrived meanwhile), nothing is refused.
   * `extra(peer)` adds writes to the same transaction (the timeline entry).
   */
  async refuseKeyChange(
    username: string,
    trusted: Uint8Array,
    pending: Uint8Array,
    extra: (peer: StoredPeer) => WriteOp[] = () => [],
  ): Promise<StoredPeer> {
    const peer0 = await this.requirePeer(username);
    return this.locks.run(peer0.chatId, async () => {
      const peer = await this.requirePeer(username);
      if (
        !peer.keyChanged ||
        !peer.identityKey ||
        !sameBytes(peer.identityKey, trusted) ||
        !sameBytes(peer.pendingIdentityKey, pending)
      )
        throw new SecureError('key_change_unacknowledged', 'not the key change that was checked');
      const refusedKeys = [pending, ...(peer.refusedKeys ?? []).filter((k) => !sameBytes(k, pending))];
      return this.settle(
        peer,
        trusted,
        { verified: true, refusedKeys: refusedKeys.slice(0, MAX_REFUSED_KEYS) },
        extra,
      );
    });
  }

  /**
   * The contact's screen, scanned, showed a key the user had refused: the refusal was wrong, and
   * that key is now trusted and verified (the scan proved it), as a scanned acceptance of a key
   * change is. Sessions under other keys go; the next send starts sessions from the relay's
   * bundles.
   */
  async acceptRefusedKey(username: string, key: Uint8Array): Promise<StoredPeer> {
    const peer0 = await this.requirePeer(username);
    return this.locks.run(peer0.chatId, async () => {
      const peer = await this.requirePeer(username);
      if (!isRefused(peer, key)) throw new SecureError('key_change_unacknowledged', 'not a refused key');
      return this.settle(peer, key, {
        identityKey: key.slice(),
        verified: true,
        refusedKeys: (peer.refusedKeys ?? []).filter((k) => !sameBytes(k, key)),
      });
    });
  }

  /**
   * Settles a key change — accepted, refused, or a refusal undone — in one transaction: only the
   * contact's sessions under `key` are kept, device by device, and the devices that still have
   * one are the contact's (the next send learns the rest from the relay); the peer is written
   * with no change pending and `fields`; `extra(peer)` adds writes.
   */
  private async settle(
    peer: StoredPeer,
    key: Uint8Array,
    fields: Partial<StoredPeer>,
    extra: (peer: StoredPeer) => WriteOp[] = () => [],
  ): Promise<StoredPeer> {
    const ops: WriteOp[] = [];
    const remaining: number[] = [];
    for (const d of await this.recipientDevices(peer)) {
      const kept = (await this.loadSessions(peer.chatId, d)).filter((s) =>
        sameBytes(s.remoteIdentityKey, key),
      );
      ops.push(...this.sessionsOps(peer.chatId, d, kept));
      if (kept.length) remaining.push(d);
    }
    const { verifiedBeforeChange: _v, keyChangedAt: _t, ...rest } = peer;
    const next: StoredPeer = {
      ...rest,
      pendingIdentityKey: null,
      keyChanged: false,
      devices: remaining,
      ...fields,
    };
    await this.commit([...ops, { kind: 'put', key: RECORD.peer(peer.chatId), value: next }, ...extra(next)]);
    return next;
  }

  /**
   * Marks `username` as named by the account's block list, or no longer (StoredPeer.blocked);
   * returns the record, or undefined when there is no chat with them here.
   */
  async setBlocked(username: string, blocked: boolean): Promise<StoredPeer | undefined> {
    const peer0 = await this.peer(username);
    if (!peer0) return undefined;
    return this.locks.run(peer0.chatId, async () => {
      const peer = await this.peer(username);
      if (!peer || (peer.blocked === true) === blocked) return peer;
      const { blocked: _b, ...rest } = peer;
      const next: StoredPeer = blocked ? { ...rest, blocked: true } : rest;
      await this.commit([{ kind: 'put', key: RECORD.peer(peer.chatId), value: next }]);
      return next;
    });
  }

  async setVerified(username: string, verified: boolean): Promise<StoredPeer> {
    const peer0 = await this.requirePeer(username);
    return this.locks.run(peer0.chatId, async () => {
      const peer = await this.requirePeer(username);
      const next = { ...peer, verified: verified && !peer.keyChanged };
      await this.commit([{ kind: 'put', key: RECORD.peer(peer.chatId), value: next }]);
      return next;
    });
  }

  /**
   * Our identity key, the contact's trusted one (looked up once if unknown) and, during an
   * unacknowledged key change, the pending one — the key the safety screen must show
   * (SECURITY.md, "Trust model").
   */
  async safetyKeys(username: string): Promise<{
    me: string;
    mine: Uint8Array;
    theirs: Uint8Array;
    pending: Uint8Array | null;
    /** Keys the user refused (refuseKeyChange): a scan matching one of them makes it trusted. */
    refused: readonly Uint8Array[];
  }> {
    const id = await loadIdentity(this.storage);
    if (!id) throw new Error('no identity key on this device');
    let peer = await this.requirePeer(username);
    if (!peer.identityKey) peer = (await this.checkIdentity(username)) ?? peer;
    if (!peer.identityKey) throw new SecureError('unknown_peer', 'identity key unknown');
    const pending = peer.keyChanged ? peer.pendingIdentityKey : null;
    return {
      me: id.username,
      mine: id.keyPair.publicKey,
      theirs: peer.identityKey,
      pending,
      refused: peer.refusedKeys ?? [],
    };
  }

  // ── prekeys ──────────────────────────────────────────────────────────────────────────

  /**
   * The relay said a one-time prekey stock runs low: generate, store, upload a batch of each
   * low kind (a batch whose earlier upload failed is uploaded first, never regenerated). With
   * `evict` (the mailbox is read to the end) the oldest unused secrets past MAX_HELD_ONE_TIME
   * make room; without, a full stock makes no batch (account-keys.ts).
   */
  async topUpPrekeys(
    low: { x25519?: boolean; mlkem?: boolean; evict?: boolean } = { x25519: true, mlkem: true },
  ): Promise<void> {
    await this.locks.run(PREKEY_LOCK, async () => {
      const evict = low.evict === true;
      if (low.x25519) await newOneTimePreKeys(this.storage, 'x25519', undefined, evict);
      if (low.mlkem) await newOneTimePreKeys(this.storage, 'mlkem', undefined, evict);
      await publishPendingOneTime(this.storage, this.keyServer, await loadPrekeyState(this.storage));
    });
  }

  /** Rotates the signed prekeys when due and deletes expired ones (prekey-lifecycle.ts). */
  maintainPrekeys(options: MaintenanceOptions = {}): Promise<MaintenanceResult> {
    return this.locks.run(PREKEY_LOCK, () =>
      maintainPrekeys(this.storage, this.keyServer, this.clock(), options),
    );
  }

  /** When maintainPrekeys next has work (device clock, ms). */
  async nextPrekeyMaintenance(): Promise<number> {
    return nextMaintenanceAt(await loadPrekeyState(this.storage));
  }
}

const PREKEY_LOCK = 'prekeys';

type Opened = Awaited<ReturnType<typeof decryptMessage>> & { index: number };
interface Accepted {
  readonly result: Awaited<ReturnType<typeof acceptSession>>;
  readonly ops: WriteOp[];
}

/** The lock of everything that touches the sessions with this account's own devices. */
const OWN_LOCK = 'own-devices';
/** Times an incoming message looks up its chat and takes its lock before giving up (decrypt). */
const CHAT_LOCK_ATTEMPTS = 3;

/** What one send seals (sealFanOut): the frame and the content it carries. */
interface Frame {
  readonly contentType: 'text' | 'photo';
  readonly body: Uint8Array;
  readonly sentAt: number;
  readonly order: number;
}

const sortedIds = (ids: readonly number[]) => [...new Set(ids)].sort((a, b) => a - b);

/** The recipient copy of the lowest device id (what the relay's SendResult.id names). */
const firstCopy = (s: SealedSend): Uint8Array => {
  const c = s.recipient[0];
  if (!c) throw new SecureError('unknown_peer', 'the contact has no device');
  return c.body;
};

function resultOf(
  peer: StoredPeer,
  opened: Opened,
  keyChanged: boolean,
  fromDevice: number,
): DecryptedIncoming {
  const contentType = opened.contentType as DecryptedIncoming['contentType'];
  return {
    peer,
    contentType,
    body: opened.body,
    sentAt: opened.sentAt,
    order: opened.order,
    keyChanged,
    fromDevice,
  };
}

/**
 * The sessions after `opened`: it becomes current — except that a session from an initial
 * message never replaces a current one whose ratchet has moved on (a replay that got past the
 * replay log, or a stale restart): it waits behind it.
 */
function arrange(
  sessions: SessionState[],
  opened: Opened,
  accepted: Accepted | null,
  keyChanged: boolean,
): SessionState[] {
  const rest = sessions.filter((_, i) => i !== opened.index);
  const current = rest[0];
  return accepted && current && hasMovedOn(current) && !keyChanged
    ? [current, opened.session, ...rest.slice(1)]
    : [opened.session, ...rest];
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Whether a session's ratchet has moved past its handshake: the initiator has had a reply, or
 * the responder has sent or taken a new DH ratchet step (Double Ratchet §3.5).
 */
function hasMovedOn(s: SessionState): boolean {
  if (s.role === 'initiator') return s.pendingInitialHeader === null;
  return (s.sendingChain?.counter ?? 0) > 0 || s.previousChains.length > 0;
}

/**
 * One sealed copy per device of `ids`, in order (spec/protocol.md §16.3): a copy kept from the
 * previous round of a stale-list resend as it was (re-sealing it would leave skipped keys behind),
 * else sealed on the device's newest session; `saved` receives each device's advanced sessions.
 */
async function sealCopies(
  ids: readonly number[],
  kept: readonly SealedCopy[] | undefined,
  sessions: ReadonlyMap<number, SessionState[]>,
  type: ContentType,
  body: Uint8Array,
  stamp: { sentAt: number; order: number },
  saved: (deviceId: number, sessions: SessionState[]) => void,
): Promise<SealedCopy[]> {
  const copies: SealedCopy[] = [];
  for (const d of ids) {
    const copy = kept?.find((c) => c.deviceId === d);
    if (copy) {
      copies.push(copy);
      continue;
    }
    const list = sessions.get(d) ?? [];
    const { session, message } = await sealOn(list[0] as SessionState, type, { body, ...stamp });
    saved(d, [session, ...list.slice(1)]);
    copies.push({ deviceId: d, body: message });
  }
  return copies;
}
