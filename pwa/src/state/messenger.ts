// The signed-in half of the app: one Messenger per unlocked account. It joins the layers —
// encrypted storage, the secure session manager, the outbox, the relay API and socket, the
// photo pipeline — and publishes what views read through the sinks it is given.
// Incoming stream items are handled strictly one at a time in seq order: decrypt, store the
// plaintext + ratchet state + cursor in one transaction, then acknowledge to the relay.
import type { Signal } from '@preact/signals-react';
import { base64 } from '@scure/base';
import { Outbox } from '../outbox/outbox.ts';
import {
  type ChatMeta,
  type OutboxItem,
  RECORD,
  type StoredMessage,
  type StoredPhoto,
} from '../outbox/records.ts';
import { preparePhoto } from '../photo/prepare.ts';
import {
  expectedCiphertextBytes,
  openPhoto,
  photoMetadataPlaintext,
  readPhotoMetadata,
  sealPhoto,
} from '../photo/seal.ts';
import { downloadPhotoBlob, uploadPhotoBlob } from '../photo/transfer.ts';
import { loadIdentity, loadPrekeyState } from '../secure/account-keys.ts';
import { SecureError } from '../secure/errors.ts';
import type { StoredPeer } from '../secure/records.ts';
import { type DecryptedIncoming, SessionManager } from '../secure/session-manager.ts';
import type { Storage, WriteOp } from '../storage/storage.ts';
import type { RelayApi } from '../transport/api.ts';
import { backoffDelay } from '../transport/backoff.ts';
import { RelaySocket, type ServerFrame, type SocketStatus } from '../transport/ws.ts';
import { toAppError, toAppErrorCode } from './error-map.ts';
import { AppError } from './errors.ts';
import { compareForDisplay, sortChats, summarise, toChatMessage, toContact } from './projection.ts';
import type { ChatMessage, ChatSummary, ConnectionStatus, Contact, PhotoView } from './types.ts';

/** Messages per chat kept in memory for the views (all stay in storage). */
export const MESSAGES_IN_MEMORY = 5000;
const CURSOR = 'cursor';
const ACK_DELAY_MS = 50;
/** A failed prekey maintenance (offline, refused) is tried again after this long. */
const PREKEY_RETRY_MS = 10 * 60 * 1000;
/** setTimeout's largest delay (2^31 − 1 ms); a later maintenance is re-planned when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface MessengerSinks {
  readonly contacts: Signal<readonly Contact[]>;
  /**
   * This account's identity key was replaced elsewhere (the relay's identity_replaced event,
   * or the relay no longer publishing this device's key): when this device learnt it.
   */
  readonly ownIdentity?: Signal<OwnIdentityWarning | null>;
  readonly chats: Signal<readonly ChatSummary[]>;
  readonly connection: Signal<ConnectionStatus>;
  messages(contact: string): Signal<readonly ChatMessage[]>;
  photo(messageId: string): Signal<PhotoView>;
}

export interface MessengerOptions {
  readonly username: string;
  readonly storage: Storage;
  readonly api: RelayApi;
  readonly sinks: MessengerSinks;
  readonly wsUrl: string;
  /** The relay refused our session for good (logged out elsewhere). */
  readonly onSessionEnded: () => void;
  /** The device clock (ms); tests drive prekey rotation with it. */
  readonly clock?: () => number;
}

/** The owner's identity warning (SECURITY.md, "Trust model"), stored until dismissed. */
export interface OwnIdentityWarning {
  readonly at: number;
}
const OWN_IDENTITY_WARNING = 'own-identity-warning';

const fromB64 = (text: unknown): Uint8Array | null => {
  if (typeof text !== 'string') return null;
  try {
    return base64.decode(text);
  } catch {
    return null;
  }
};

export class Messenger {
  readonly sm: SessionManager;
  readonly outbox: Outbox;
  private socket: RelaySocket | null = null;
  private peers = new Map<string, StoredPeer>();
  private history = new Map<string, StoredMessage[]>();
  private meta = new Map<string, ChatMeta>();
  private progress = new Map<string, number>();
  private urls = new Map<string, string>();
  private cursor = 0;
  private frames: Promise<void> = Promise.resolve();
  private pendingAcks: number[] = [];
  private pendingPhotoAcks: string[] = [];
  private pendingNoReceipt: number[] = [];
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private flushAttempt = 0;
  private lastCreatedAt = 0;
  private prekeyTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly clock: () => number;

  constructor(private readonly o: MessengerOptions) {
    this.clock = o.clock ?? Date.now;
    this.sm = new SessionManager(o.storage, o.api, {
      clock: this.clock,
      onKeyChange: (peer) => {
        const entry = this.keyChangeEntry(peer);
        return entry ? [{ kind: 'putMessage', chat: peer.chatId, id: entry.id, value: entry }] : [];
      },
    });
    this.outbox = new Outbox({
      storage: o.storage,
      encrypt: (item, persist, signal) => this.encryptItem(item, persist, signal),
      send: async (item, wire) => ({
        relayId: (await o.api.sendMessage(item.contact, item.clientId ?? item.id, wire)).id,
      }),
      // Stored ciphertext is resent only while the contact's key is the one it was sealed for:
      // asked of the relay (the identity route spends nothing), so a key change not yet seen on
      // the stream still holds it (SECURITY.md, "Trust model").
      beforeResend: async (item) => {
        const peer = await this.sm.checkIdentity(item.contact);
        if (peer) this.setPeer(peer);
        if (peer?.keyChanged) throw new SecureError('key_change_unacknowledged', 'identity key changed');
      },
      onChange: (m) => {
        // A photo's prepared plaintext is kept until sent: a key change may need it re-sealed.
        if (m.state === 'sent' && m.body.kind === 'photo')
          void o.storage.delete(RECORD.outgoingPhoto(m.id)).catch(() => undefined);
        this.upsert(m);
        if (m.state === 'queued') this.scheduleFlush();
        else if (m.state === 'sent') this.flushAttempt = 0;
      },
      classify: toAppErrorCode,
    });
  }

  // ── loading and publishing ──────────────────────────────────────────────────────────

  async load(): Promise<void> {
    this.cursor = (await this.o.storage.get<number>(CURSOR)) ?? 0;
    for (const peer of await this.sm.peers()) {
      this.peers.set(peer.username, peer);
      const rows = await this.o.storage.messages<StoredMessage>(peer.chatId, MESSAGES_IN_MEMORY);
      this.history.set(
        peer.username,
        rows.map((r) => r.value),
      );
      const meta = await this.o.storage.get<ChatMeta>(RECORD.chatMeta(peer.chatId));
      if (meta) this.meta.set(peer.username, meta);
    }
    this.publishContacts();
    for (const contact of this.peers.keys()) this.publishMessages(contact);
    this.publishChats();
    if (this.o.sinks.ownIdentity)
      this.o.sinks.ownIdentity.value =
        (await this.o.storage.get<OwnIdentityWarning>(OWN_IDENTITY_WARNING)) ?? null;
  }

  /**
   * Raises the persistent warning that this account's identity key was replaced from another
   * device (kept, also across restarts, until the user dismisses it).
   */
  private async warnOwnIdentity(at: number): Promise<void> {
    if (this.o.sinks.ownIdentity?.value) return;
    const warning: OwnIdentityWarning = { at };
    await this.o.storage.put(OWN_IDENTITY_WARNING, warning);
    if (this.o.sinks.ownIdentity) this.o.sinks.ownIdentity.value = warning;
  }

  async dismissOwnIdentityWarning(): Promise<void> {
    await this.o.storage.delete(OWN_IDENTITY_WARNING);
    if (this.o.sinks.ownIdentity) this.o.sinks.ownIdentity.value = null;
  }

  /**
   * On every start (going online): the relay must still publish THIS device's identity key for
   * the account (GET /identity, spends nothing). Another key there means the account was
   * re-keyed elsewhere — by the owner on another device, or by someone holding the account.
   * Skipped while this device's own key has not been accepted by the relay yet.
   */
  async checkOwnIdentity(): Promise<void> {
    const [mine, state] = await Promise.all([loadIdentity(this.o.storage), loadPrekeyState(this.o.storage)]);
    if (!mine || !state.identityUploaded) return;
    const published = await this.o.api.identity(this.o.username);
    const a = published.identityKey;
    const b = mine.keyPair.publicKey;
    if (a.length !== b.length || a.some((v, i) => v !== b[i])) await this.warnOwnIdentity(this.clock());
  }

  private publishContacts(): void {
    this.o.sinks.contacts.value = [...this.peers.values()]
      .map(toContact)
      .sort((a, b) => a.username.localeCompare(b.username));
  }

  private publishChats(): void {
    const chats = [...this.peers.values()].map((p) =>
      summarise(p, this.history.get(p.username) ?? [], this.meta.get(p.username)),
    );
    this.o.sinks.chats.value = sortChats(chats, (c) => this.peers.get(c)?.addedAt ?? 0);
  }

  private publishMessages(contact: string): void {
    const list = this.history.get(contact) ?? [];
    this.o.sinks.messages(contact).value = [...list]
      .sort(compareForDisplay)
      .map((m) => toChatMessage(m, this.progress.get(m.id)));
  }

  /**
   * The chat's timeline entry for the key change `peer` is flagged with ("alice's security key
   * changed — 12:03"), stored with the flag and kept in history (SECURITY.md, "Trust model").
   */
  private keyChangeEntry(peer: StoredPeer): StoredMessage | null {
    if (!peer.keyChanged || peer.keyChangedAt === undefined) return null;
    return {
      id: `keychange:${peer.chatId}:${peer.keyChangedAt}`,
      contact: peer.username,
      direction: 'in',
      at: peer.keyChangedAt,
      storedAt: peer.keyChangedAt,
      state: 'received',
      body: { kind: 'keyChange' },
    };
  }

  private setPeer(peer: StoredPeer): void {
    // A newly seen key change: its stored timeline entry joins the history in memory too.
    const entry = this.keyChangeEntry(peer);
    if (entry && !(this.history.get(peer.username) ?? []).some((m) => m.id === entry.id)) this.upsert(entry);
    this.peers.set(peer.username, peer);
    this.publishContacts();
    this.publishChats();
  }

  /** Inserts or replaces a message in memory and republishes its chat. */
  private upsert(m: StoredMessage): void {
    const list = this.history.get(m.contact) ?? [];
    const i = list.findIndex((x) => x.id === m.id);
    if (i >= 0) list[i] = m;
    else list.push(m);
    if (list.length > MESSAGES_IN_MEMORY) list.splice(0, list.length - MESSAGES_IN_MEMORY);
    this.history.set(m.contact, list);
    this.publishMessages(m.contact);
    this.publishChats();
  }

  // ── connection ──────────────────────────────────────────────────────────────────────

  /** Connects the socket and sends what waits in the outbox. */
  goOnline(): void {
    if (this.stopped) return;
    if (!this.socket) {
      this.socket = new RelaySocket({
        url: this.o.wsUrl,
        token: async () => {
          const http = this.o.api.http;
          if (!http.accessToken) await http.refreshTokens();
          return http.accessToken;
        },
        cursor: () => this.cursor,
        onFrame: (f) => this.enqueueFrame(f),
        onStatus: (s: SocketStatus) => {
          this.o.sinks.connection.value = s;
          if (s === 'online') {
            void this.checkOwnIdentity().catch(() => undefined);
            void this.outbox.flush();
            void this.syncContacts();
            void this.maintainPrekeys();
          }
        },
        onAuthFailed: () => {
          // An expired access token: refresh (which ends the session if the relay refuses).
          this.o.api.http.refreshTokens().catch((err: unknown) => {
            if (toAppErrorCode(err) === 'unauthorized') this.o.onSessionEnded();
          });
        },
      });
    }
    this.socket.start();
    this.socket.nudge();
    // The socket may have stayed up through a short outage; what waits is sent now.
    void this.outbox.flush();
    // An overdue rotation or deletion happens now, network or not (uploads are retried).
    void this.maintainPrekeys();
  }

  /** Retries the outbox after a network failure, backing off while the failures last. */
  private scheduleFlush(): void {
    if (this.flushTimer || this.stopped) return;
    const delay = backoffDelay(this.flushAttempt, 0.5 + Math.random() / 2, { baseMs: 2000, maxMs: 60_000 });
    this.flushAttempt += 1;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.outbox.flush();
    }, delay);
  }

  stop(): void {
    this.stopped = true;
    this.socket?.stop();
    this.socket = null;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.prekeyTimer) clearTimeout(this.prekeyTimer);
    this.prekeyTimer = null;
    for (const url of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
  }

  /** Contacts added on another device (or before this store existed) become local peers. */
  async syncContacts(): Promise<void> {
    try {
      for (const c of await this.o.api.contacts()) {
        if (!this.peers.has(c.username) || this.peers.get(c.username)?.request)
          this.setPeer(await this.sm.addPeer(c.username, Date.parse(c.added_at)));
      }
      await this.topUpPrekeys();
      // Messages this device stored whose acknowledgement was lost (a closed tab, the network):
      // acknowledge them now, so the relay can delete them.
      const page = await this.o.api.messages(0, 500);
      const handled: number[] = [];
      const silent: number[] = [];
      for (const m of page.messages)
        if (m.seq <= this.cursor && (await this.o.storage.getMessage(`in-${m.id}`)))
          (this.peers.get(m.sender)?.request ? silent : handled).push(m.id);
      if (handled.length || silent.length) await this.o.api.ack(handled, [], silent);
    } catch {
      // Offline or refused: the next successful connection tries again.
    }
  }

  // ── prekeys ─────────────────────────────────────────────────────────────────────────

  /**
   * Rotates the signed prekeys when due, publishes what an earlier run could not, deletes
   * expired secrets (spec/protocol.md §4.7), then plans the next run: at the next due time
   * while the app runs, sooner after a failure. Runs on start (when online) and on every
   * reconnection, so a rotation overdue while the app was closed happens first thing.
   */
  async maintainPrekeys(): Promise<void> {
    if (this.stopped) return;
    let retry = false;
    try {
      // Expired prekeys go only once the mailbox is fetched: a first message waiting there
      // may name one (spec/protocol.md §4.7).
      const deleteExpired = await this.mailboxFetched();
      const result = await this.sm.maintainPrekeys({ deleteExpired });
      retry = result.uploadError !== undefined || !deleteExpired;
    } catch {
      retry = true; // locked store, missing state: tried again later
    }
    if (this.stopped) return;
    if (this.prekeyTimer) clearTimeout(this.prekeyTimer);
    let delay = PREKEY_RETRY_MS;
    if (!retry) {
      const at = await this.sm.nextPrekeyMaintenance().catch(() => this.clock() + PREKEY_RETRY_MS);
      delay = Math.max(1000, at - this.clock());
    }
    this.prekeyTimer = setTimeout(
      () => {
        this.prekeyTimer = null;
        void this.maintainPrekeys();
      },
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  /** True when every stream item the relay holds after our cursor has been handled. */
  private async mailboxFetched(): Promise<boolean> {
    if (this.o.sinks.connection.value !== 'online') return false;
    await this.frames;
    try {
      return (await this.o.api.messages(this.cursor, 1)).messages.length === 0;
    } catch {
      return false;
    }
  }

  /** Adds a batch of each kind of one-time prekey whose stock the relay says runs low. */
  private async topUpPrekeys(): Promise<void> {
    const status = await this.o.api.keyStatus();
    if (status.prekeys_low || status.pq_prekeys_low)
      await this.sm.topUpPrekeys({ x25519: status.prekeys_low, mlkem: status.pq_prekeys_low });
  }

  // ── incoming stream ─────────────────────────────────────────────────────────────────

  private enqueueFrame(frame: ServerFrame): void {
    this.frames = this.frames.then(() => this.handleFrame(frame)).catch(() => undefined);
  }

  private async advance(seq: unknown, extra: WriteOp[] = []): Promise<void> {
    if (typeof seq !== 'number' || seq <= this.cursor) {
      if (extra.length) await this.o.storage.write(extra);
      return;
    }
    await this.o.storage.write([...extra, { kind: 'put', key: CURSOR, value: seq }]);
    this.cursor = seq;
  }

  private async handleFrame(f: ServerFrame): Promise<void> {
    if (this.stopped) return;
    switch (f.type) {
      case 'message':
        return this.onMessage(f);
      case 'delivered':
        return this.onDelivered(f);
      case 'key_change': {
        if (typeof f.username === 'string' && this.peers.has(f.username)) {
          const peer = await this.sm.checkIdentity(f.username).catch(() => undefined);
          if (peer) this.setPeer(peer);
        }
        return this.advance(f.seq);
      }
      case 'identity_replaced': {
        const at = typeof f.created_at === 'string' ? Date.parse(f.created_at) || this.clock() : this.clock();
        await this.warnOwnIdentity(at);
        return this.advance(f.seq);
      }
      case 'prekeys_low':
        await this.topUpPrekeys().catch(() => undefined);
        return;
      default:
        return;
    }
  }

  private async onMessage(f: ServerFrame): Promise<void> {
    const from = typeof f.from === 'string' ? f.from : null;
    const bytes = fromB64(f.body);
    const relayId = typeof f.id === 'number' ? f.id : null;
    if (!from || !bytes || relayId === null) return this.advance(f.seq);
    const id = `in-${relayId}`;
    // The relay's clock: kept only as "received at"; the chat is ordered by the sender's.
    const receivedAt =
      typeof f.created_at === 'string' ? Date.parse(f.created_at) || this.clock() : this.clock();
    let stored: StoredMessage | null = null;
    let controlOnly = false;
    try {
      const result = await this.sm.decrypt(from, bytes, (r) => {
        stored = this.incomingRecord(id, from, receivedAt, relayId, r);
        const ops: WriteOp[] = [
          { kind: 'put', key: CURSOR, value: Math.max(this.cursor, Number(f.seq) || 0) },
        ];
        if (stored) ops.unshift({ kind: 'putMessage', chat: r.peer.chatId, id, value: stored });
        return ops;
      });
      if (typeof f.seq === 'number' && f.seq > this.cursor) this.cursor = f.seq;
      if (!result.ignored) this.setPeer(result.peer);
      if (stored) this.upsert(stored);
      controlOnly = result.contentType === 'control';
    } catch (err) {
      // A local failure (storage): leave it unacknowledged; the relay sends it again later.
      if (!(err instanceof SecureError)) return;
      await this.advance(f.seq);
      // A redelivery of what is already stored is acknowledged again. Anything else that does
      // not open is NOT acknowledged: it may be meant for another device of this account (a
      // reinstall elsewhere), and an acknowledgement would delete it from the relay for that
      // device too. Unacknowledged messages expire with the relay's retention.
      if (err.code !== 'duplicate') return;
    }
    // Acknowledge only now that plaintext and ratchet state are stored together (spec/openapi.yaml
    // POST /ack: an acknowledged message is deleted from the relay, so it must never be lost). A
    // control message (this app sends none) is acknowledged WITHOUT a delivery receipt, so a
    // stranger cannot use one to learn when this user is online (spec/protocol.md §8, "Control
    // messages"). A message request gets none either until the user accepts it.
    if (controlOnly || this.peers.get(from)?.request) this.queueAck(null, undefined, relayId);
    else this.queueAck(relayId);
  }

  private incomingRecord(
    id: string,
    from: string,
    receivedAt: number,
    relayId: number,
    r: DecryptedIncoming,
  ): StoredMessage | null {
    const base = {
      id,
      contact: from,
      direction: 'in' as const,
      at: r.sentAt,
      order: r.order,
      receivedAt,
      storedAt: this.clock(),
      state: 'received' as const,
      relayId,
    };
    if (r.contentType === 'text')
      return { ...base, body: { kind: 'text', text: new TextDecoder().decode(r.body) } };
    if (r.contentType === 'photo' && r.photoKeys) {
      const meta = readPhotoMetadata(r.body);
      const photo: StoredPhoto = {
        mime: meta.mime,
        width: meta.width,
        height: meta.height,
        size: meta.byteLength,
        blobId: meta.blobId,
        ciphertextSha256: meta.ciphertextSha256,
        thumbnail: meta.thumbnail,
        messageKey: r.photoKeys.messageKey,
        header: r.photoKeys.header,
      };
      return { ...base, body: { kind: 'photo', photo } };
    }
    return null; // control messages carry nothing to show
  }

  private async onDelivered(f: ServerFrame): Promise<void> {
    // A re-sealed message's client_id is `<message id>_r<n>` (OutboxItem.clientId).
    const clientId = typeof f.client_id === 'string' ? f.client_id.replace(/_r\d+$/, '') : null;
    const extra: WriteOp[] = [];
    let updated: StoredMessage | null = null;
    if (clientId) {
      const m = await this.o.storage.getMessage<StoredMessage>(clientId);
      const peer = m ? this.peers.get(m.contact) : undefined;
      if (m && peer && m.direction === 'out') {
        updated = { ...m, state: 'delivered' };
        extra.push({ kind: 'putMessage', chat: peer.chatId, id: m.id, value: updated });
      }
    }
    await this.advance(f.seq, extra);
    if (updated) this.upsert(updated);
  }

  private queueAck(id: number | null, photoId?: string, noReceiptId?: number): void {
    if (id !== null) this.pendingAcks.push(id);
    if (photoId) this.pendingPhotoAcks.push(photoId);
    if (noReceiptId !== undefined) this.pendingNoReceipt.push(noReceiptId);
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      const ids = this.pendingAcks.splice(0, 500);
      const photos = this.pendingPhotoAcks.splice(0, 500);
      const silent = this.pendingNoReceipt.splice(0, 500);
      if (!ids.length && !photos.length && !silent.length) return;
      this.o.api.ack(ids, photos, silent).catch(() => {
        this.pendingNoReceipt.push(...silent);
        // Not acknowledged: the relay keeps them and sends them again; they are then
        // recognised as duplicates and acknowledged on the next attempt.
        this.pendingAcks.push(...ids);
        this.pendingPhotoAcks.push(...photos);
      });
    }, ACK_DELAY_MS);
  }

  // ── sending ─────────────────────────────────────────────────────────────────────────

  /**
   * Creation times of outgoing messages, strictly increasing: the outbox sends in createdAt
   * order, and two messages written in the same millisecond must not go out in the order of
   * their random ids.
   */
  private nextCreatedAt(): number {
    this.lastCreatedAt = Math.max(this.clock(), this.lastCreatedAt + 1);
    return this.lastCreatedAt;
  }

  private requirePeer(contact: string): StoredPeer {
    const peer = this.peers.get(contact);
    if (!peer) throw new AppError('not_found');
    return peer;
  }

  async sendText(contact: string, text: string): Promise<string> {
    return this.queueOutgoing(contact, { kind: 'text', text });
  }

  async sendPhoto(contact: string, file: Blob): Promise<string> {
    this.requirePeer(contact);
    const prepared = await preparePhoto(file).catch((err: unknown) => {
      throw toAppError(err);
    });
    const photo: StoredPhoto = {
      mime: prepared.mime,
      width: prepared.width,
      height: prepared.height,
      size: prepared.bytes.length,
      blobId: null,
      ciphertextSha256: null,
      thumbnail: prepared.thumbnail,
    };
    return this.queueOutgoing(contact, { kind: 'photo', photo }, (id) => [
      { kind: 'put', key: RECORD.photo(id), value: { mime: prepared.mime, bytes: prepared.bytes } },
      { kind: 'put', key: RECORD.outgoingPhoto(id), value: prepared },
    ]);
  }

  /** Stores an outgoing message and its outbox item in one transaction (plus `extra` writes). */
  private async queueOutgoing(
    contact: string,
    body: Exclude<StoredMessage['body'], { kind: 'keyChange' }>,
    extra: (id: string) => WriteOp[] = () => [],
  ): Promise<string> {
    const peer = this.requirePeer(contact);
    const now = this.nextCreatedAt();
    const id = crypto.randomUUID();
    const message: StoredMessage = {
      id,
      contact,
      direction: 'out',
      at: now,
      storedAt: now,
      state: 'queued',
      body,
    };
    const item: OutboxItem = {
      id,
      contact,
      chatId: peer.chatId,
      kind: body.kind,
      createdAt: now,
      wire: null,
      failed: null,
    };
    await this.outbox.enqueue(message, item, extra(id));
    return id;
  }

  private setProgress(id: string, contact: string, fraction: number | undefined): void {
    if (fraction === undefined) this.progress.delete(id);
    else this.progress.set(id, fraction);
    this.publishMessages(contact);
  }

  private async encryptItem(
    item: OutboxItem,
    persist: (wire: Uint8Array) => WriteOp[],
    signal: AbortSignal,
  ): Promise<Uint8Array> {
    if (item.kind === 'text') {
      const m = await this.o.storage.getMessage<StoredMessage>(item.id);
      if (m?.body.kind !== 'text') throw new AppError('unknown');
      return this.sm.encryptText(item.contact, m.body.text, persist, { sentAt: item.createdAt });
    }
    const prepared = await this.o.storage.get<Awaited<ReturnType<typeof preparePhoto>>>(
      RECORD.outgoingPhoto(item.id),
    );
    if (!prepared) throw new AppError('unknown');
    try {
      return await this.sm.encryptPhoto(
        item.contact,
        async (keys) => {
          const sealed = await sealPhoto(keys, prepared);
          const uploaded = await uploadPhotoBlob(this.o.api.http, item.contact, sealed.ciphertext, {
            signal,
            onProgress: (f) => this.setProgress(item.id, item.contact, f),
          });
          return photoMetadataPlaintext(prepared, sealed, uploaded.id);
        },
        persist,
        { sentAt: item.createdAt },
      );
    } finally {
      this.setProgress(item.id, item.contact, undefined);
    }
  }

  retry(id: string): Promise<void> {
    return this.outbox.retry(id);
  }

  cancel(id: string): void {
    this.outbox.cancel(id);
  }

  // ── reading photos ──────────────────────────────────────────────────────────────────

  /** Starts showing the photo of `messageId` (from the store, or downloaded and decrypted). */
  async loadPhoto(messageId: string): Promise<void> {
    const view = this.o.sinks.photo(messageId);
    if (view.value.status === 'loading' || view.value.status === 'ready') return;
    view.value = { status: 'loading', progress: 0, url: null };
    try {
      let local = await this.o.storage.get<{ mime: string; bytes: Uint8Array }>(RECORD.photo(messageId));
      if (!local)
        local = await this.downloadPhoto(messageId, (p) => {
          view.value = { status: 'loading', progress: p, url: null };
        });
      const url = URL.createObjectURL(
        new Blob([local.bytes as Uint8Array<ArrayBuffer>], { type: local.mime }),
      );
      this.urls.set(messageId, url);
      view.value = { status: 'ready', progress: 1, url };
    } catch (err) {
      view.value = { status: 'failed', progress: 0, url: null, error: toAppErrorCode(err) };
    }
  }

  private async downloadPhoto(messageId: string, onProgress: (p: number) => void) {
    const m = await this.o.storage.getMessage<StoredMessage>(messageId);
    if (m?.body.kind !== 'photo') throw new AppError('not_found');
    const p = m.body.photo;
    const peer = this.requirePeer(m.contact);
    if (!p.blobId || !p.messageKey || !p.header || !p.ciphertextSha256) throw new AppError('not_found');
    const meta = {
      mime: p.mime,
      byteLength: p.size,
      width: p.width,
      height: p.height,
      ciphertextSha256: p.ciphertextSha256,
      blobId: p.blobId,
      thumbnail: p.thumbnail,
    };
    const blob = await downloadPhotoBlob(this.o.api.http, p.blobId, expectedCiphertextBytes(meta), {
      onProgress,
    });
    const bytes = await openPhoto({ messageKey: p.messageKey, header: p.header }, meta, blob);
    // Keep the decrypted photo for offline viewing; the keys are no longer needed.
    const { messageKey: _k, header: _h, ...kept } = p;
    const updated: StoredMessage = { ...m, body: { kind: 'photo', photo: kept } };
    await this.o.storage.write([
      { kind: 'put', key: RECORD.photo(messageId), value: { mime: p.mime, bytes } },
      { kind: 'putMessage', chat: peer.chatId, id: messageId, value: updated },
    ]);
    this.queueAck(null, p.blobId);
    return { mime: p.mime, bytes };
  }

  // ── contacts, reading state, safety ─────────────────────────────────────────────────

  async addContact(username: string): Promise<void> {
    const added = await this.o.api.addContact(username);
    this.setPeer(await this.sm.addPeer(added.username, Date.parse(added.added_at) || Date.now()));
    this.publishMessages(added.username);
  }

  async removeContact(username: string): Promise<void> {
    await this.o.api.removeContact(username).catch((err: unknown) => {
      if (toAppErrorCode(err) !== 'not_found') throw err;
    });
    await this.sm.removePeer(username);
    this.peers.delete(username);
    this.history.delete(username);
    this.publishMessages(username);
    this.publishContacts();
    this.publishChats();
  }

  /** Blocks `username` at the relay, then removes its chat here (a message request's "block"). */
  async blockContact(username: string): Promise<void> {
    await this.o.api.block(username);
    await this.removeContact(username);
  }

  markRead(contact: string): void {
    const peer = this.peers.get(contact);
    if (!peer) return;
    const meta: ChatMeta = { readUpTo: this.clock() };
    this.meta.set(contact, meta);
    this.publishChats();
    void this.o.storage.put(RECORD.chatMeta(peer.chatId), meta).catch(() => undefined);
  }

  /** Accepts the pending key unverified ('click' is refused for a contact verified before). */
  async acknowledgeKeyChange(contact: string, how: 'click' | 'without-verifying' = 'click'): Promise<void> {
    const reseal = await this.resealOps(contact);
    this.setPeer(await this.sm.acknowledgeKeyChange(contact, how, undefined, reseal));
    void this.outbox.flush();
  }

  /** The scanned safety QR matched this pending key: accept it, verified. */
  async acceptScannedKey(contact: string, key: Uint8Array): Promise<void> {
    const reseal = await this.resealOps(contact);
    this.setPeer(await this.sm.acknowledgeKeyChange(contact, 'scanned', key, reseal));
    void this.outbox.flush();
  }

  /**
   * Outbox items of `contact` already sealed (for the old key): with the acceptance, in the
   * same transaction, their ciphertext is dropped so the next flush seals them for the new key
   * — under a new client_id, since the relay may hold the old bytes under the old one. Never
   * before acceptance (SECURITY.md, "Trust model").
   */
  private async resealOps(contact: string): Promise<() => WriteOp[]> {
    const sealed = (await this.outbox.pending()).filter((i) => i.contact === contact && i.wire);
    return () =>
      sealed.map((item) => {
        const n = Number(/_r(\d+)$/.exec(item.clientId ?? '')?.[1] ?? 0) + 1;
        const next: OutboxItem = { ...item, wire: null, failed: null, clientId: `${item.id}_r${n}` };
        return { kind: 'put', key: RECORD.outbox(item.id), value: next };
      });
  }

  async setVerified(contact: string, verified: boolean): Promise<void> {
    this.setPeer(await this.sm.setVerified(contact, verified));
  }
}
