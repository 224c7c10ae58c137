// The session manager over crypto-core (issue #4 §1, §6, §9): keeps each contact's Double
// Ratchet sessions in the encrypted Storage, starts sessions from fetched bundles, answers
// initial messages with this device's prekeys, and serialises every encrypt/decrypt of one
// conversation through a KeyedMutex. A decrypted message is handed back only after its
// plaintext (the caller's writes) and the new ratchet state are stored in ONE transaction, so
// the caller can acknowledge it to the relay right after.
//
// Sessions per contact: a short list, newest first. Both sides may start a session at the
// same time; each then holds two, and a ratchet message is tried against each stored session
// in turn (as Signal's session records do) — the one that opens it becomes current, so the
// two sides converge on one session.
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
import type { Storage, WriteOp } from '../storage/storage.ts';
import type { Bundle, KeysUpload } from '../transport/api.ts';
import {
  loadIdentity,
  loadOneTimePreKey,
  loadPqPreKey,
  loadSignedPreKey,
  newOneTimePreKeys,
  requireIdentity,
} from './account-keys.ts';
import { SecureError } from './errors.ts';
import { KeyedMutex } from './mutex.ts';
import { RECORD, type StoredPeer } from './records.ts';

/** Sessions kept per contact: current + a few older ones for messages still in flight. */
export const MAX_SESSIONS_PER_PEER = 4;

/** What the session manager needs from the relay (RelayApi implements it). */
export interface KeyServer {
  bundle(username: string): Promise<Bundle>;
  uploadKeys(keys: KeysUpload): Promise<{ prekeys_low: boolean }>;
}

export interface DecryptedIncoming {
  readonly peer: StoredPeer;
  readonly contentType: 'text' | 'photo' | 'control';
  readonly plaintext: Uint8Array;
  /** Photo messages: the message key and header that open the photo blob (spec §10). */
  readonly photoKeys?: { readonly messageKey: Uint8Array; readonly header: Uint8Array };
  /** This message came with an identity key other than the trusted one. */
  readonly keyChanged: boolean;
}

const sameBytes = (a: Uint8Array | null, b: Uint8Array | null) =>
  a !== null && b !== null && a.length === b.length && a.every((v, i) => v === b[i]);

const newChatId = () => crypto.randomUUID();

export class SessionManager {
  private readonly locks = new KeyedMutex();

  constructor(
    private readonly storage: Storage,
    private readonly keyServer: KeyServer,
  ) {}

  // ── contacts (peers) ─────────────────────────────────────────────────────────────────

  async peers(): Promise<StoredPeer[]> {
    return (await this.storage.list<StoredPeer>(RECORD.peerPrefix)).map((r) => r.value);
  }

  async peer(username: string): Promise<StoredPeer | undefined> {
    return (await this.peers()).find((p) => p.username === username);
  }

  /** Adds a contact locally (idempotent); returns its record. */
  async addPeer(username: string, addedAt = Date.now()): Promise<StoredPeer> {
    const existing = await this.peer(username);
    if (existing) return existing;
    const peer: StoredPeer = {
      chatId: newChatId(),
      username,
      addedAt,
      identityKey: null,
      verified: false,
      keyChanged: false,
      pendingIdentityKey: null,
    };
    await this.storage.put(RECORD.peer(peer.chatId), peer);
    return peer;
  }

  async removePeer(username: string): Promise<void> {
    const peer = await this.peer(username);
    if (!peer) return;
    await this.locks.run(peer.chatId, async () => {
      await this.storage.write([
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

  // ── sessions ─────────────────────────────────────────────────────────────────────────

  private async loadSessions(chatId: string): Promise<SessionState[]> {
    const stored = await this.storage.get<Uint8Array[]>(RECORD.session(chatId));
    return (stored ?? []).map((bytes) => deserializeSession(bytes));
  }

  private sessionsOp(chatId: string, sessions: SessionState[]): WriteOp {
    return {
      kind: 'put',
      key: RECORD.session(chatId),
      value: sessions.slice(0, MAX_SESSIONS_PER_PEER).map((s) => serializeSession(s)),
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
    const bundle = await this.keyServer.bundle(peer.username);
    if (peer.identityKey && !sameBytes(peer.identityKey, bundle.identityKey)) {
      const flagged = this.flagKeyChange(peer, bundle.identityKey);
      await this.storage.put(RECORD.peer(peer.chatId), flagged);
      throw new SecureError('key_change_unacknowledged', 'identity key changed');
    }
    const identity = await requireIdentity(this.storage);
    const { session } = initiateSession(identity, {
      identityKey: bundle.identityKey,
      signedPreKey: bundle.signedPreKey,
      pqPreKey: bundle.pqPreKey,
      oneTimePreKey: bundle.oneTimePreKey,
    });
    // Trust on first use: the first identity key seen for a contact becomes the trusted one.
    const trusted: StoredPeer = peer.identityKey
      ? peer
      : { ...peer, identityKey: bundle.identityKey.slice() };
    return { peer: trusted, sessions: [session, ...sessions] };
  }

  private flagKeyChange(peer: StoredPeer, newKey: Uint8Array): StoredPeer {
    return { ...peer, keyChanged: true, verified: false, pendingIdentityKey: newKey.slice() };
  }

  /**
   * Encrypts a text for `username`. The new ratchet state — and the caller's `persist` writes,
   * e.g. the ciphertext kept in the outbox — are stored in one transaction before it resolves.
   */
  async encryptText(
    username: string,
    text: string,
    persist: (wire: Uint8Array) => WriteOp[] = () => [],
  ): Promise<Uint8Array> {
    return this.encryptWith(
      username,
      (current) => encryptMessage(current, 'text', new TextEncoder().encode(text)),
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
  ): Promise<Uint8Array> {
    return this.encryptWith(username, (current) => encryptPhotoMessage(current, build), persist);
  }

  /**
   * One send under the conversation lock: `seal` advances the current session, and the new
   * state, the peer record and the caller's `persist` writes commit in one transaction.
   */
  private async encryptWith(
    username: string,
    seal: (current: SessionState) => Promise<{ session: SessionState; message: Uint8Array }>,
    persist: (wire: Uint8Array) => WriteOp[],
  ): Promise<Uint8Array> {
    const peer0 = await this.requirePeer(username);
    return this.locks.run(peer0.chatId, async () => {
      const fresh = await this.requirePeer(username);
      const { peer, sessions } = await this.sendingSession(fresh);
      const { session, message } = await seal(sessions[0] as SessionState);
      await this.storage.write([
        this.sessionsOp(peer.chatId, [session, ...sessions.slice(1)]),
        { kind: 'put', key: RECORD.peer(peer.chatId), value: peer },
        ...persist(message),
      ]);
      return message;
    });
  }

  /**
   * Decrypts a message from `sender`. `persist` returns the writes that store its plaintext;
   * they are applied in the same transaction as the new ratchet state (and the deletion of a
   * used one-time prekey). Resolves only after that transaction committed.
   * Throws SecureError('undecryptable' | 'no_session') for a message that cannot be opened.
   */
  async decrypt(
    sender: string,
    wire: Uint8Array,
    persist: (result: DecryptedIncoming) => WriteOp[],
  ): Promise<DecryptedIncoming> {
    const peer0 = (await this.peer(sender)) ?? (await this.addPeer(sender));
    return this.locks.run(peer0.chatId, async () => {
      let peer = (await this.peer(sender)) ?? peer0;
      const sessions = await this.loadSessions(peer.chatId);
      let kind: 'initial' | 'ratchet';
      try {
        kind = messageKind(wire);
      } catch (err) {
        throw new SecureError('undecryptable', 'malformed message', { cause: err });
      }
      let opened: { session: SessionState; index: number; usedOneTimePreKeyId?: number } & Awaited<
        ReturnType<typeof decryptMessage>
      >;
      const tried = await this.tryExisting(sessions, wire);
      if (tried) opened = tried;
      else if (kind === 'initial') opened = { ...(await this.accept(wire)), index: -1 };
      else throw new SecureError('no_session', 'no session opens this message');

      let keyChanged = false;
      const remote = opened.session.remoteIdentityKey;
      if (!peer.identityKey) peer = { ...peer, identityKey: remote.slice() };
      else if (!sameBytes(peer.identityKey, remote)) {
        keyChanged = true;
        peer = this.flagKeyChange(peer, remote);
      }
      const rest = sessions.filter((_, i) => i !== opened.index);
      const contentType = opened.contentType;
      const result: DecryptedIncoming = {
        peer,
        contentType,
        plaintext: opened.plaintext,
        keyChanged,
        ...(opened.messageKey && opened.header
          ? { photoKeys: { messageKey: opened.messageKey, header: opened.header } }
          : {}),
      };
      const ops: WriteOp[] = [
        this.sessionsOp(peer.chatId, [opened.session, ...rest]),
        { kind: 'put', key: RECORD.peer(peer.chatId), value: peer },
      ];
      if (opened.usedOneTimePreKeyId !== undefined)
        ops.push({ kind: 'delete', key: RECORD.oneTimePreKey(opened.usedOneTimePreKeyId) });
      ops.push(...persist(result));
      await this.storage.write(ops);
      return result;
    });
  }

  private async tryExisting(sessions: SessionState[], wire: Uint8Array) {
    for (const [index, s] of sessions.entries()) {
      try {
        const r = await decryptMessage(s, wire);
        return { ...r, index };
      } catch (err) {
        if (err instanceof CryptoCoreError && err.code === 'DUPLICATE_MESSAGE')
          throw new SecureError('duplicate', 'duplicate message', { cause: err });
        // Another session may open it; try the next.
      }
    }
    return null;
  }

  private async accept(wire: Uint8Array) {
    try {
      const header = parseInitialMessage(wire);
      const identity = await requireIdentity(this.storage);
      const [signedPreKey, pqPreKey, oneTimePreKey] = await Promise.all([
        loadSignedPreKey(this.storage, header.signedPreKeyId),
        loadPqPreKey(this.storage, header.pqPreKeyId),
        header.oneTimePreKeyId === undefined
          ? undefined
          : loadOneTimePreKey(this.storage, header.oneTimePreKeyId),
      ]);
      if (!signedPreKey || !pqPreKey) throw new SecureError('undecryptable', 'unknown prekey');
      return await acceptSession({ identity, signedPreKey, pqPreKey, oneTimePreKey }, wire);
    } catch (err) {
      if (err instanceof SecureError) throw err;
      throw new SecureError('undecryptable', 'initial message rejected', { cause: err });
    }
  }

  // ── key changes and verification ────────────────────────────────────────────────────

  /** The relay announced a new identity key for `username`: learn it now, so the chat warns. */
  async checkIdentity(username: string): Promise<StoredPeer | undefined> {
    const peer0 = await this.peer(username);
    if (!peer0) return undefined;
    return this.locks.run(peer0.chatId, async () => {
      const peer = (await this.peer(username)) ?? peer0;
      const bundle = await this.keyServer.bundle(username);
      if (!peer.identityKey) {
        const trusted = { ...peer, identityKey: bundle.identityKey.slice() };
        await this.storage.put(RECORD.peer(peer.chatId), trusted);
        return trusted;
      }
      if (sameBytes(peer.identityKey, bundle.identityKey)) return peer;
      const flagged = this.flagKeyChange(peer, bundle.identityKey);
      await this.storage.put(RECORD.peer(peer.chatId), flagged);
      return flagged;
    });
  }

  /** The user accepted the new identity key: trust it, drop sessions with the old one. */
  async acknowledgeKeyChange(username: string): Promise<StoredPeer> {
    const peer0 = await this.requirePeer(username);
    return this.locks.run(peer0.chatId, async () => {
      const peer = await this.requirePeer(username);
      if (!peer.keyChanged || !peer.pendingIdentityKey) return peer;
      const newKey = peer.pendingIdentityKey;
      const sessions = (await this.loadSessions(peer.chatId)).filter((s) =>
        sameBytes(s.remoteIdentityKey, newKey),
      );
      const next: StoredPeer = {
        ...peer,
        identityKey: newKey,
        pendingIdentityKey: null,
        keyChanged: false,
        verified: false,
      };
      await this.storage.write([
        this.sessionsOp(peer.chatId, sessions),
        { kind: 'put', key: RECORD.peer(peer.chatId), value: next },
      ]);
      return next;
    });
  }

  async setVerified(username: string, verified: boolean): Promise<StoredPeer> {
    const peer0 = await this.requirePeer(username);
    return this.locks.run(peer0.chatId, async () => {
      const peer = await this.requirePeer(username);
      const next = { ...peer, verified: verified && !peer.keyChanged };
      await this.storage.put(RECORD.peer(peer.chatId), next);
      return next;
    });
  }

  /** Our identity key and the contact's trusted one, for the safety number (fetched once if unknown). */
  async safetyKeys(username: string): Promise<{ me: string; mine: Uint8Array; theirs: Uint8Array }> {
    const id = await loadIdentity(this.storage);
    if (!id) throw new Error('no identity key on this device');
    let peer = await this.requirePeer(username);
    if (!peer.identityKey) peer = (await this.checkIdentity(username)) ?? peer;
    if (!peer.identityKey) throw new SecureError('unknown_peer', 'identity key unknown');
    return { me: id.username, mine: id.keyPair.publicKey, theirs: peer.identityKey };
  }

  // ── prekey stock ─────────────────────────────────────────────────────────────────────

  /** The relay said the one-time prekey stock runs low: generate, store, upload a batch. */
  async topUpPrekeys(): Promise<void> {
    await this.locks.run('prekeys', async () => {
      const upload = await newOneTimePreKeys(this.storage);
      await this.keyServer.uploadKeys(upload);
    });
  }
}
