// The incoming stream: frames from the relay's socket, handled strictly one at a time in seq
// order. A message is decrypted and its plaintext, ratchet state and the stream cursor are
// stored in one transaction; only then is it acknowledged (spec/protocol.md §7.6).
// A frame the store could not take (a full disk, an aborted transaction) stops the stream
// there: the frames after it from the same socket are dropped, and the socket is opened again,
// resuming from the cursor, which has not moved past the failed frame. Handling the next frame
// instead would store its seq as the cursor, and the failed one would never be sent again.
// The backoff grows while the same frame keeps failing. A frame that fails for another reason
// (a request it needed failed) gets MAX_FRAME_ATTEMPTS tries and is then passed over,
// unacknowledged: one that always fails must not stop the stream for good.
import { base64 } from '@scure/base';
import { RECORD as OUTBOX, type StoredMessage, type StoredPhoto } from '../../outbox/records.ts';
import { readPhotoMetadata } from '../../photo/seal.ts';
import { SecureError } from '../../secure/errors.ts';
import type { DecryptedIncoming, SessionManager } from '../../secure/session-manager.ts';
import { isStoreFailure, type Storage, type WriteOp } from '../../storage/storage.ts';
import { isDeviceId, type RelayApi } from '../../transport/api.ts';
import type { ServerFrame } from '../../transport/ws.ts';
import type { AckBatcher } from './acks.ts';
import type { ChatMemory } from './chat-memory.ts';

const CURSOR = 'cursor';

/**
 * A stream position the relay accepts back as a cursor (spec/ws-frames.schema.json Seq: an
 * integer 0 … 2^53 − 1). Anything else from the relay is not stored as the cursor: one item with
 * a fraction or a number past 2^53 made every later auth frame a 4401, and the device never
 * received anything again.
 */
const isCursor = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** Tries of a frame that fails other than by the store before it is passed over. */
export const MAX_FRAME_ATTEMPTS = 5;

const fromB64 = (text: unknown): Uint8Array | null => {
  if (typeof text !== 'string') return null;
  try {
    return base64.decode(text);
  } catch {
    return null;
  }
};

export interface IncomingOptions {
  readonly storage: Storage;
  readonly api: Pick<RelayApi, 'messages' | 'ack' | 'identity'>;
  /** This account's username (a devices_changed item asks the relay for its device list). */
  readonly username: string;
  readonly sm: SessionManager;
  readonly memory: ChatMemory;
  readonly acks: AckBatcher;
  readonly clock: () => number;
  /** The relay's identity_replaced event: this account was re-keyed elsewhere, at `at`. */
  readonly onIdentityReplaced: (at: number) => Promise<void>;
  /** The relay's prekeys_low event. */
  readonly onPrekeysLow: () => Promise<void>;
  /** A contacts_changed item: another device of this account changed the contact or block list. */
  readonly onContactsChanged: () => void;
  /**
   * Copies this account sent from its other devices expired on the relay before this device
   * received them (an `expired` item from the own username): tell the user, once.
   */
  readonly onOwnExpired: () => Promise<void>;
  /**
   * A frame could not be stored, `failures` times in a row: open the socket again, after a
   * backoff that grows with them, to resume from the cursor.
   */
  readonly onLocalFailure: (failures: number) => void;
}

export class IncomingStream {
  private cursor = 0;
  private frames: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Frames enqueued before the last local failure are of a socket given up: dropped. */
  private generation = 0;
  /** Failures of the frame the stream stopped at (the cursor's next one). */
  private failures = 0;

  constructor(private readonly o: IncomingOptions) {}

  async load(): Promise<void> {
    // A cursor stored by a version that took any number (see isCursor) starts over from 0: the
    // relay sends what it still holds again, and messages are known by their ids.
    const stored = await this.o.storage.get<number>(CURSOR);
    this.cursor = isCursor(stored) ? stored : 0;
  }

  /** The seq of the last stream item handled (the socket resumes after it). */
  get position(): number {
    return this.cursor;
  }

  enqueue(frame: ServerFrame): void {
    const generation = this.generation;
    this.frames = this.frames.then(async () => {
      if (generation !== this.generation || this.stopped) return;
      const before = this.cursor;
      try {
        await this.handle(frame);
        if (this.cursor > before) this.failures = 0;
      } catch (err) {
        if (this.stopped) return;
        this.failures += 1;
        if (!isStoreFailure(err) && this.failures >= MAX_FRAME_ATTEMPTS && (await this.passOver(frame)))
          return;
        // Not stored: stop here and resume from the cursor (see the top).
        this.generation += 1;
        this.o.onLocalFailure(Math.max(1, this.failures));
      }
    });
  }

  /** Moves the cursor past a frame that failed MAX_FRAME_ATTEMPTS times; false if the store refused. */
  private async passOver(frame: ServerFrame): Promise<boolean> {
    this.failures = 0;
    try {
      await this.advance(frame.seq);
      return true;
    } catch {
      return false;
    }
  }

  stop(): void {
    this.stopped = true;
  }

  /** True when every stream item the relay holds after our cursor has been handled. */
  async fetchedAll(): Promise<boolean> {
    await this.frames;
    try {
      return (await this.o.api.messages(this.cursor, 1)).messages.length === 0;
    } catch {
      return false;
    }
  }

  /**
   * Messages this device stored whose acknowledgement was lost (a closed tab, the network):
   * acknowledged now, so the relay can delete them.
   */
  async acknowledgeStored(): Promise<void> {
    const page = await this.o.api.messages(0, 500);
    const handled: number[] = [];
    const silent: number[] = [];
    for (const m of page.messages)
      if (m.seq <= this.cursor && (await this.o.storage.getMessage(`in-${m.id}`)))
        (m.sender === this.o.username || this.noReceiptFor(m.sender) ? silent : handled).push(m.id);
    if (handled.length || silent.length) await this.o.api.ack(handled, [], silent);
  }

  /**
   * Whether messages from `sender` are acknowledged without a delivery receipt: a message
   * request (not accepted yet), and a user the account's block list names (a copy the relay let
   * through, sent before the block reached it) — neither learns when this user reads.
   */
  private noReceiptFor(sender: string): boolean {
    const peer = this.o.sm.knownPeer(sender);
    return peer?.request === true || peer?.blocked === true;
  }

  private async advance(seq: unknown, extra: WriteOp[] = []): Promise<void> {
    if (typeof seq !== 'number' || seq <= this.cursor) {
      if (extra.length) await this.o.storage.write(extra);
      return;
    }
    await this.o.storage.write([...extra, { kind: 'put', key: CURSOR, value: seq }]);
    this.cursor = seq;
  }

  private async handle(f: ServerFrame): Promise<void> {
    if (this.stopped) return;
    // Every stream item has a seq: one without a usable one is not handled at all.
    if (f.type !== 'prekeys_low' && !(isCursor(f.seq) && f.seq >= 1)) return;
    switch (f.type) {
      case 'message':
        return this.onMessage(f);
      case 'delivered':
        return this.onDelivered(f);
      case 'key_change': {
        if (typeof f.username === 'string' && this.o.sm.knownPeer(f.username)) {
          const peer = await this.o.sm.checkIdentity(f.username).catch(() => undefined);
          if (peer) this.o.memory.showPeer(peer);
        }
        return this.advance(f.seq);
      }
      case 'identity_replaced': {
        const at =
          typeof f.created_at === 'string' ? Date.parse(f.created_at) || this.o.clock() : this.o.clock();
        await this.o.onIdentityReplaced(at);
        return this.advance(f.seq);
      }
      case 'devices_changed': {
        // spec §16 UNLINK / LINK: this account's device list changed. The sessions of removed
        // devices go now (they get nothing further); a new one is sealed for on the next send.
        await this.o.api
          .identity(this.o.username)
          .then((id) => this.o.sm.setOwnDevices(id.deviceIds))
          .catch(() => undefined);
        return this.advance(f.seq);
      }
      case 'contacts_changed':
        // Read off the queue (messenger/lists-refresh.ts): the items after it do not wait.
        this.o.onContactsChanged();
        return this.advance(f.seq);
      case 'expired':
        return this.onExpired(f);
      case 'prekeys_low':
        // Off the queue: the top-up asks whether the mailbox is read to the end (fetchedAll),
        // which waits for this very queue (prekey-upkeep.ts).
        void this.o.onPrekeysLow().catch(() => undefined);
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
    // The sender's device picks the session (spec §16); a relay without devices sends none.
    const fromDevice = isDeviceId(f.from_device) ? f.from_device : 1;
    const id = `in-${relayId}`;
    // The relay's clock: kept only as "received at"; the chat is ordered by the sender's.
    const receivedAt =
      typeof f.created_at === 'string' ? Date.parse(f.created_at) || this.o.clock() : this.o.clock();
    let stored: StoredMessage | null = null;
    let controlOnly = false;
    let synced = false;
    try {
      const result = await this.o.sm.decrypt(
        from,
        bytes,
        (r) => {
          stored = this.incomingRecord(id, receivedAt, relayId, r);
          const ops: WriteOp[] = [
            { kind: 'put', key: CURSOR, value: Math.max(this.cursor, f.seq as number) },
          ];
          if (stored) ops.unshift({ kind: 'putMessage', chat: r.peer.chatId, id, value: stored });
          return ops;
        },
        fromDevice,
      );
      if (typeof f.seq === 'number' && f.seq > this.cursor) this.cursor = f.seq;
      if (!result.ignored) this.o.memory.showPeer(result.peer);
      if (stored) this.o.memory.upsert(stored);
      controlOnly = result.contentType === 'control';
      synced = result.synced === true;
    } catch (err) {
      // A local failure (storage): unacknowledged, and the stream resumes from here (enqueue).
      if (!(err instanceof SecureError)) throw err;
      await this.advance(f.seq);
      // A redelivery of what is already stored is acknowledged again, below. What does not
      // open never will: this copy is this device's own (spec/protocol.md §16, one mailbox per
      // device), so no other device could read it either. It is acknowledged without a receipt
      // rather than left counted in this device's mailbox until retention, where a stranger's
      // junk would fill it (MAX_PENDING_MESSAGES) and refuse the contacts' messages.
      if (err.code !== 'duplicate') {
        this.o.acks.withoutReceipt(relayId);
        return;
      }
    }
    // Acknowledge only now that plaintext and ratchet state are stored together (spec/openapi.yaml
    // POST /ack: an acknowledged message is deleted from the relay, so it must never be lost). A
    // control message (this app sends none) is acknowledged WITHOUT a delivery receipt, so a
    // stranger cannot use one to learn when this user is online (spec/protocol.md §8, "Control
    // messages"). A message request gets none either until the user accepts it, nor a user the
    // account blocked (noReceiptFor).
    // A sync copy (our own, from another of our devices) is acknowledged without one too: a
    // receipt would tell us about ourselves (spec §16).
    if (controlOnly || synced || this.noReceiptFor(from)) this.o.acks.withoutReceipt(relayId);
    else this.o.acks.message(relayId);
  }

  /**
   * Copies that expired on the relay unread (spec/openapi.yaml GET /ws, `expired`): a timeline
   * entry in the sender's chat, stored with the cursor. From this account (sync copies) the chat
   * is not known: a notice. From anyone without a chat here (a stranger, a user blocked since,
   * whose chat is gone) nothing: a chat is not opened for them.
   * The same item again is known by what it says, not by its seq: after a restore of the relay's
   * database seqs start lower, and a new item below the old cursor must still be shown (as
   * messages are, by their ids; spec/openapi.yaml GET /ws, `ready`).
   */
  private async onExpired(f: ServerFrame): Promise<void> {
    const count = f.count;
    const first = typeof f.first_sent_at === 'string' ? Date.parse(f.first_sent_at) : Number.NaN;
    const last = typeof f.last_sent_at === 'string' ? Date.parse(f.last_sent_at) : Number.NaN;
    if (typeof f.from !== 'string' || !Number.isSafeInteger(count) || (count as number) < 1)
      return this.advance(f.seq);
    if (!Number.isFinite(first) || !Number.isFinite(last) || first > last) return this.advance(f.seq);
    if (f.from === this.o.username) {
      await this.o.onOwnExpired();
      return this.advance(f.seq);
    }
    const peer = this.o.sm.knownPeer(f.from);
    if (!peer) return this.advance(f.seq);
    const known = this.o.memory.find(
      peer.username,
      (m) =>
        m.body.kind === 'expired' &&
        m.body.count === count &&
        m.body.firstSentAt === first &&
        m.body.lastSentAt === last,
    );
    if (known) return this.advance(f.seq);
    const now = this.o.clock();
    const entry: StoredMessage = {
      // Random, as every record name (outbox/records.ts): a seq can come again after a restore.
      id: `expired:${crypto.randomUUID()}`,
      contact: peer.username,
      direction: 'in',
      // When this device learnt of it, so it is seen at the end of the chat: the messages were
      // sent long ago (the text names when), and the relay's clock orders nothing in a chat
      // (SECURITY.md "What the relay and its operator can see").
      at: now,
      storedAt: now,
      state: 'received',
      body: { kind: 'expired', count: count as number, firstSentAt: first, lastSentAt: last },
    };
    await this.advance(f.seq, [{ kind: 'putMessage', chat: peer.chatId, id: entry.id, value: entry }]);
    this.o.memory.upsert(entry);
  }

  private incomingRecord(
    id: string,
    receivedAt: number,
    relayId: number,
    r: DecryptedIncoming,
  ): StoredMessage | null {
    // A sync copy is a message WE sent to r.peer from another device: shown as sent by us.
    const base = {
      id,
      contact: r.peer.username,
      direction: r.synced ? ('out' as const) : ('in' as const),
      at: r.sentAt,
      order: r.order,
      receivedAt,
      storedAt: this.o.clock(),
      state: r.synced ? ('sent' as const) : ('received' as const),
      relayId,
      ...(r.fromDevice !== undefined ? { fromDevice: r.fromDevice } : {}),
      ...(r.synced ? { synced: true as const } : {}),
    };
    if (r.contentType === 'text')
      return { ...base, body: { kind: 'text', text: new TextDecoder().decode(r.body) } };
    if (r.contentType === 'photo') {
      let meta: ReturnType<typeof readPhotoMetadata>;
      try {
        meta = readPhotoMetadata(r.body);
      } catch (err) {
        // Opened, but not a photo message (spec §10.4): nothing to show, and it never will be.
        throw new SecureError('undecryptable', 'malformed photo message', { cause: err });
      }
      const photo: StoredPhoto = {
        mime: meta.mime,
        width: meta.width,
        height: meta.height,
        size: meta.byteLength,
        blobId: meta.blobId,
        ciphertextSha256: meta.ciphertextSha256,
        thumbnail: meta.thumbnail,
        photoKey: meta.photoKey,
      };
      return { ...base, body: { kind: 'photo', photo } };
    }
    return null; // control messages carry nothing to show
  }

  private async onDelivered(f: ServerFrame): Promise<void> {
    // A re-sealed message's client_id is `<message id>_r<n>` (OutboxItem.clientId). With
    // several recipient devices a delivered item comes per copy acked (spec §16): any copy's
    // id maps back to the message (RECORD.copy, written when the send was taken).
    let messageId = typeof f.client_id === 'string' ? f.client_id.replace(/_r\d+$/, '') : null;
    if (!messageId && typeof f.message_id === 'number')
      messageId = (await this.o.storage.get<string>(OUTBOX.copy(f.message_id))) ?? null;
    const found = messageId ? await this.o.storage.getMessage<StoredMessage>(messageId) : undefined;
    const chatId = found ? this.o.sm.knownPeer(found.contact)?.chatId : undefined;
    if (!found || !chatId) return this.advance(f.seq);
    // Read and written under the chat's lock, which Delete chat and the outbox's state writes
    // take too: a deletion between them would get the message written back into a chat that is
    // gone, and an outbox write of "sent" read before the receipt would overwrite "delivered".
    const updated = await this.o.sm.inChat(chatId, async () => {
      const m = await this.o.storage.getMessage<StoredMessage>(found.id);
      // Once is enough: the other copies' receipts change nothing (the PWA dedups). A message
      // still queued or sending may have been stored already (its answer lost; outbox.ts keeps
      // the receipt), but one that failed was refused by the relay: a receipt for it is the
      // relay's word against what this app knows, and marking it delivered hid its retry button
      // while the failed item held every later message to that chat.
      const still = m && this.o.sm.knownPeer(m.contact)?.chatId === chatId;
      if (!still || m.direction !== 'out' || m.state === 'delivered' || m.state === 'failed') {
        await this.advance(f.seq);
        return null;
      }
      const next: StoredMessage = { ...m, state: 'delivered' };
      await this.advance(f.seq, [{ kind: 'putMessage', chat: chatId, id: m.id, value: next }]);
      return next;
    });
    if (updated) this.o.memory.upsert(updated);
  }
}
