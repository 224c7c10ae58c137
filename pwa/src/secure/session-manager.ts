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
  acceptSession,
  decryptMessage,
  encryptMessage,
  encryptPhotoMessage,
  initiateSession,
  messageKind,
  parseInitialMessage,
  type SessionState,
} from '@secure-drop/crypto-core/session';
import { deserializeSession, serializeSession } from '@secure-drop/crypto-core/session-codec';
import type { Storage, WriteOp, WriteOptions } from '../storage/storage.ts';
import type { Bundle, Identity, KeysUpload } from '../transport/api.ts';
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
import { SecureError } from './errors.ts';
import { KeyedMutex } from './mutex.ts';
import {
  type MaintenanceOptions,
  type MaintenanceResult,
  maintainPrekeys,
  nextMaintenanceAt,
  publishPendingOneTime,
} from './prekey-lifecycle.ts';
import { RECORD, type StoredPeer, type StoredReplayRecord } from './records.ts';

/**
 * Older sessions kept per contact behind the current one: libsignal's
 * ARCHIVED_STATES_MAX_LENGTH (session_structure.rs), for messages still in flight on them and
 * so that their base keys stay known.
 */
export const MAX_ARCHIVED_SESSIONS = 40;

/** What the session manager needs from the relay (RelayApi implements it). */
export interface KeyServer {
  /** A bundle — spends a one-time prekey: only to start a session. */
  bundle(username: string): Promise<Bundle>;
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
}

/** What goes inside a sealed message with its body (spec/protocol.md §9.1). */
export interface OutgoingMeta {
  /** The sender's time of the message (ms). */
  readonly sentAt: number;
}

export interface DecryptedIncoming {
  readonly peer: StoredPeer;
  readonly contentType: 'text' | 'photo' | 'control';
  readonly body: Uint8Array;
  /** The sender's time and per-conversation order number, from inside the ciphertext. */
  readonly sentAt: number;
  readonly order: number;
  /** Photo messages: the message key and header that open the photo blob (spec §10). */
  readonly photoKeys?: { readonly messageKey: Uint8Array; readonly header: Uint8Array };
  /** This message came with an identity key other than the trusted one. */
  readonly keyChanged: boolean;
  /** A stranger's control message: nothing was stored for it, `peer` is not a contact. */
  readonly ignored?: true;
}

const sameBytes = (a: Uint8Array | null, b: Uint8Array | null) =>
  a !== null && b !== null && a.length === b.length && a.every((v, i) => v === b[i]);

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

  constructor(
    private readonly storage: Storage,
    private readonly keyServer: KeyServer,
    options: SessionManagerOptions = {},
  ) {
    this.locks = options.locks ?? new KeyedMutex();
    this.clock = options.clock ?? Date.now;
    this.onKeyChange = options.onKeyChange ?? (() => []);
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
    return peers;
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

  /** Adds a contact locally (idempotent); returns its record. */
  async addPeer(username: string, addedAt = this.clock()): Promise<StoredPeer> {
    const existing = await this.peer(username);
    if (existing?.request) {
      // The user accepted a message request: the peer becomes a contact.
      const { request: _r, ...accepted } = existing;
      await this.commit([{ kind: 'put', key: RECORD.peer(existing.chatId), value: accepted }]);
      return accepted;
    }
    if (existing) return existing;
    const peer: StoredPeer = {
      chatId: newChatId(),
      username,
      addedAt,
      identityKey: null,
      verified: false,
      keyChanged: false,
      pendingIdentityKey: null,
      sentOrder: 0,
    };
    await this.commit([{ kind: 'put', key: RECORD.peer(peer.chatId), value: peer }]);
    return peer;
  }

  async removePeer(username: string): Promise<void> {
    const peer = await this.peer(username);
    if (!peer) return;
    await this.locks.run(peer.chatId, async () => {
      await this.commit([
        { kind: 'delete', key: RECORD.peer(peer.chatId) },
        { kind: 'delete', key: RECORD.session(peer.chatId) },
      ]);
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

  /** The stored sessions of a chat, current first (UNSUPPORTED_VERSION for a v1 state). */
  async loadSessions(chatId: string): Promise<SessionState[]> {
    const stored = await this.storage.get<Uint8Array[]>(RECORD.session(chatId));
    return (stored ?? []).map((bytes) => deserializeSession(bytes));
  }

  private sessionsOp(chatId: string, sessions: SessionState[]): WriteOp {
    return {
      kind: 'put',
      key: RECORD.session(chatId),
      value: sessions.slice(0, 1 + MAX_ARCHIVED_SESSIONS).map((s) => serializeSession(s)),
    };
  }

  /**
   * The current session for sending, starting one from a fetched bundle when there is none.
   * A bundle whose identity key differs from the trusted one flags the key change and throws.
   */
  private async sendingSession(peer: StoredPeer): Promise<{ peer: StoredPeer; sessions: SessionState[] }> {
    if (peer.keyChanged) throw new SecureError('key_change_unacknowledged', 'identity key changed');
    const sessions = await this.loadSessions(peer.chatId);
    const current = sessions[0];
    if (current && sameBytes(current.remoteIdentityKey, peer.identityKey)) return { peer, sessions };
    // Only here is a bundle fetched: it spends one of the contact's one-time prekeys.
    const bundle = await this.keyServer.bundle(peer.username);
    if (peer.identityKey && !sameBytes(peer.identityKey, bundle.identityKey)) {
      const flagged = this.flagKeyChange(peer, bundle.identityKey);
      await this.commit(this.flaggedOps(peer, flagged));
      throw new SecureError('key_change_unacknowledged', 'identity key changed');
    }
    const identity = await requireIdentity(this.storage);
    const { session } = initiateSession(identity, prekeyBundleOf(bundle), {
      initiator: await this.ownName(),
      responder: bundle.username,
    });
    // Trust on first use: the first identity key seen for a contact becomes the trusted one.
    const trusted: StoredPeer = peer.identityKey
      ? peer
      : { ...peer, identityKey: bundle.identityKey.slice() };
    return { peer: trusted, sessions: [session, ...sessions] };
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
      verifiedBeforeChange: peer.verified || (peer.keyChanged && peer.verifiedBeforeChange === true),
      keyChangedAt: this.clock(),
      pendingIdentityKey: newKey.slice(),
    };
  }

  /**
   * Encrypts a text for `username`. The new ratchet state — and the caller's `persist` writes,
   * e.g. the ciphertext kept in the outbox — are stored in one transaction before it resolves.
   */
  async encryptText(
    username: string,
    text: string,
    persist: (wire: Uint8Array) => WriteOp[] = () => [],
    meta: Partial<OutgoingMeta> = {},
  ): Promise<Uint8Array> {
    const body = new TextEncoder().encode(text);
    return this.encryptWith(
      username,
      meta,
      (current, framing) => encryptMessage(current, 'text', { body, ...framing }),
      persist,
    );
  }

  /**
   * Encrypts a photo message: `build` gets the message key and header, encrypts and uploads
   * the blob, and returns the photo metadata plaintext (spec §10). The conversation stays
   * locked meanwhile; if `build` throws, no state changes.
   */
  async encryptPhoto(
    username: string,
    build: (keys: { messageKey: Uint8Array; header: Uint8Array }) => Promise<Uint8Array>,
    persist: (wire: Uint8Array) => WriteOp[] = () => [],
    meta: Partial<OutgoingMeta> = {},
  ): Promise<Uint8Array> {
    return this.encryptWith(
      username,
      meta,
      (current, framing) => encryptPhotoMessage(current, build, framing),
      persist,
    );
  }

  /**
   * One send under the conversation lock: `seal` advances the current session, and the new
   * state, the peer record (with the conversation's order counter) and the caller's `persist`
   * writes commit in one transaction — with strict durability, because it advances a sending
   * chain (spec/protocol.md §15: sealing under a rolled-back state).
   */
  private async encryptWith(
    username: string,
    meta: Partial<OutgoingMeta>,
    seal: (
      current: SessionState,
      framing: { sentAt: number; order: number },
    ) => Promise<{ session: SessionState; message: Uint8Array }>,
    persist: (wire: Uint8Array) => WriteOp[],
  ): Promise<Uint8Array> {
    const peer0 = await this.requirePeer(username);
    return this.locks.run(peer0.chatId, async () => {
      const fresh = await this.requirePeer(username);
      const { peer, sessions } = await this.sendingSession(fresh);
      const order = (peer.sentOrder ?? 0) + 1;
      // The sender's time never goes backwards along the order (a clock set back), so the
      // receiver's order by (time, order) is the sending order.
      const sentAt = Math.max(meta.sentAt ?? this.clock(), peer.lastSentAt ?? 0);
      const { session, message } = await seal(sessions[0] as SessionState, { sentAt, order });
      await this.commit(
        [
          this.sessionsOp(peer.chatId, [session, ...sessions.slice(1)]),
          {
            kind: 'put',
            key: RECORD.peer(peer.chatId),
            value: { ...peer, sentOrder: order, lastSentAt: sentAt },
          },
          ...persist(message),
        ],
        { durability: 'strict' },
      );
      return message;
    });
  }

  /**
   * Decrypts a message from `sender`. `persist` returns the writes that store its plaintext;
   * they are applied in the same transaction as the new ratchet state (and, for an initial
   * message, the replay record and the deletion of the used one-time prekeys). Resolves only
   * after that transaction committed.
   * Throws SecureError('undecryptable' | 'no_session' | 'duplicate') for a message that cannot
   * be opened.
   */
  async decrypt(
    sender: string,
    wire: Uint8Array,
    persist: (result: DecryptedIncoming) => WriteOp[],
  ): Promise<DecryptedIncoming> {
    // A sender who is not a contact gets a peer record only in the transaction that stores a
    // message that opened: a message that cannot be decrypted never creates a contact or a
    // chat (SECURITY.md, "Trust model"). Until then its lock is named by the username.
    const known = await this.peer(sender);
    return this.locks.run(known?.chatId ?? `new-peer:${sender}`, async () => {
      const stored = (await this.peer(sender)) ?? known;
      let peer = stored ?? { ...this.newPeer(sender), request: true };
      const sessions = await this.loadSessions(peer.chatId);
      let kind: 'initial' | 'ratchet';
      try {
        kind = messageKind(wire);
      } catch (err) {
        throw new SecureError('undecryptable', 'malformed message', { cause: err });
      }
      const tried = await this.tryExisting(sessions, wire);
      let opened: Opened;
      let accepted: Accepted | null = null;
      if (tried) opened = tried;
      else if (kind === 'initial') {
        accepted = await this.accept(sender, wire, sessions);
        opened = { ...accepted.result, index: -1 };
      } else throw new SecureError('no_session', 'no session opens this message');
      if (!stored && opened.contentType === 'control')
        return this.ignoreStrangerControl(peer, opened, persist);

      let keyChanged = false;
      let changeOps: WriteOp[] = [];
      const remote = opened.session.remoteIdentityKey;
      if (!peer.identityKey) peer = { ...peer, identityKey: remote.slice() };
      else if (!sameBytes(peer.identityKey, remote)) {
        keyChanged = true;
        const flagged = this.flagKeyChange(peer, remote);
        if (flagged !== peer) changeOps = this.onKeyChange(flagged);
        peer = flagged;
      }
      const rest = sessions.filter((_, i) => i !== opened.index);
      const result: DecryptedIncoming = {
        peer,
        contentType: opened.contentType,
        body: opened.body,
        sentAt: opened.sentAt,
        order: opened.order,
        keyChanged,
        ...(opened.messageKey && opened.header
          ? { photoKeys: { messageKey: opened.messageKey, header: opened.header } }
          : {}),
      };
      // A session from an initial message never replaces a current one whose ratchet has moved
      // on (a replay that got past the replay log, or a stale restart): it waits behind it.
      const current = rest[0];
      const order =
        accepted && current && hasMovedOn(current) && !keyChanged
          ? [current, opened.session, ...rest.slice(1)]
          : [opened.session, ...rest];
      const ops: WriteOp[] = [
        this.sessionsOp(peer.chatId, order),
        { kind: 'put', key: RECORD.peer(peer.chatId), value: peer },
      ];
      if (accepted) ops.push(...accepted.ops);
      ops.push(...changeOps, ...persist(result));
      await this.commit(ops, accepted ? { durability: 'strict' } : {});
      return result;
    });
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
  private async accept(sender: string, wire: Uint8Array, sessions: SessionState[]): Promise<Accepted> {
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
      const result = await acceptSession({ identity, signedPreKey, pqPreKey, oneTimePreKey }, wire, {
        initiator: sender,
        responder: await this.ownName(),
        isKnownBaseKey: (baseKey) => known.has(hex(baseKey)),
      });
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
      if (sameBytes(peer.identityKey, identityKey)) return peer;
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
      const sessions = (await this.loadSessions(peer.chatId)).filter((s) =>
        sameBytes(s.remoteIdentityKey, newKey),
      );
      const { verifiedBeforeChange: _v, keyChangedAt: _t, ...rest } = peer;
      const next: StoredPeer = {
        ...rest,
        identityKey: newKey,
        pendingIdentityKey: null,
        keyChanged: false,
        verified: how === 'scanned',
      };
      await this.commit([
        this.sessionsOp(peer.chatId, sessions),
        { kind: 'put', key: RECORD.peer(peer.chatId), value: next },
        ...extra(next),
      ]);
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
  async safetyKeys(
    username: string,
  ): Promise<{ me: string; mine: Uint8Array; theirs: Uint8Array; pending: Uint8Array | null }> {
    const id = await loadIdentity(this.storage);
    if (!id) throw new Error('no identity key on this device');
    let peer = await this.requirePeer(username);
    if (!peer.identityKey) peer = (await this.checkIdentity(username)) ?? peer;
    if (!peer.identityKey) throw new SecureError('unknown_peer', 'identity key unknown');
    const pending = peer.keyChanged ? peer.pendingIdentityKey : null;
    return { me: id.username, mine: id.keyPair.publicKey, theirs: peer.identityKey, pending };
  }

  // ── prekeys ──────────────────────────────────────────────────────────────────────────

  /**
   * The relay said a one-time prekey stock runs low: generate, store, upload a batch of each
   * low kind (a batch whose earlier upload failed is uploaded first, never regenerated).
   */
  async topUpPrekeys(
    low: { x25519?: boolean; mlkem?: boolean } = { x25519: true, mlkem: true },
  ): Promise<void> {
    await this.locks.run(PREKEY_LOCK, async () => {
      if (low.x25519) await newOneTimePreKeys(this.storage, 'x25519');
      if (low.mlkem) await newOneTimePreKeys(this.storage, 'mlkem');
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

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Whether a session's ratchet has moved past its handshake: the initiator has had a reply, or
 * the responder has sent or taken a new DH ratchet step (Double Ratchet §3.5).
 */
function hasMovedOn(s: SessionState): boolean {
  if (s.role === 'initiator') return s.pendingInitialHeader === null;
  return (s.sendingChain?.counter ?? 0) > 0 || s.previousChains.length > 0;
}
