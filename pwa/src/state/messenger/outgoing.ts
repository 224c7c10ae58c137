// Outbox scheduling: outgoing messages are stored with their outbox item in one transaction,
// sealed and sent in creation order (src/outbox/outbox.ts) — over the open socket, else over
// HTTP (transport/socket-first.ts) — retried with backoff while the network fails, and re-sealed for a contact's new key only once the user accepts it
// (SECURITY.md, "Trust model").
import { Outbox } from '../../outbox/outbox.ts';
import {
  type OutboxItem,
  RECORD,
  type SealedWire,
  type StoredMessage,
  type StoredPhoto,
} from '../../outbox/records.ts';
import { preparePhoto } from '../../photo/prepare.ts';
import { newPhotoKey, photoMetadataPlaintext, sealPhoto } from '../../photo/seal.ts';
import { uploadPhotoBlob } from '../../photo/transfer.ts';
import { assertSendable, type SealedSend, type SessionManager } from '../../secure/session-manager.ts';
import type { Storage, WriteOp } from '../../storage/storage.ts';
import type { RelayApi, SendResult } from '../../transport/api.ts';
import { backoffDelay } from '../../transport/backoff.ts';
import { ApiError } from '../../transport/errors.ts';
import type { SocketFirst } from '../../transport/socket-first.ts';
import { toAppError, toAppErrorCode } from '../error-map.ts';
import { AppError } from '../errors.ts';
import type { TimelineKind } from '../timeline.ts';
import type { ChatMemory } from './chat-memory.ts';

export interface OutgoingOptions {
  readonly storage: Storage;
  /** For photo uploads (HTTP only). */
  readonly api: Pick<RelayApi, 'http'>;
  /** Message sends: the socket when open, else HTTP, same client_id either way. */
  readonly relay: Pick<SocketFirst, 'sendMessage'>;
  readonly sm: SessionManager;
  readonly memory: ChatMemory;
  readonly clock: () => number;
  /** The photo upload (default: resumable tus, photo/transfer.ts); injectable for Node tests. */
  readonly uploadPhoto?: typeof uploadPhotoBlob;
}

/**
 * Times one send is resealed after 409 stale_devices before it is left for the next flush: a
 * device list changing again on every attempt is an account being re-linked in a loop, not a
 * race worth spinning on (spec §16).
 */
export const MAX_STALE_RETRIES = 3;

const isSealedSend = (w: SealedWire): w is SealedSend => !(w instanceof Uint8Array);

export class Outgoing {
  readonly outbox: Outbox;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private flushAttempt = 0;
  private lastCreatedAt = 0;
  private stopped = false;

  constructor(private readonly o: OutgoingOptions) {
    this.outbox = new Outbox({
      storage: o.storage,
      encrypt: (item, persist, signal) => this.encryptItem(item, persist, signal),
      send: (item, wire) => this.sendItem(item, wire),
      // Stored ciphertext is resent only while the contact may be sent to (assertSendable, the
      // rule sealing follows too): its key the one it was sealed for — asked of the relay (the
      // identity route spends nothing), so a key change not yet seen on the stream still holds
      // it (SECURITY.md, "Trust model") — not marked blocked, and its chat still here.
      beforeResend: async (item) => {
        const peer = await o.sm.checkIdentity(item.contact);
        if (peer) o.memory.showPeer(peer);
        assertSendable(peer);
      },
      onChange: (m) => {
        // A photo's prepared plaintext is kept until sent: a key change may need it re-sealed.
        if (m.state === 'sent' && m.body.kind === 'photo')
          void o.storage
            .write([
              { kind: 'delete', key: RECORD.outgoingPhoto(m.id) },
              { kind: 'delete', key: RECORD.uploadedPhoto(m.id) },
            ])
            .catch(() => undefined);
        o.memory.upsert(m);
        if (m.state === 'queued') this.scheduleFlush();
        else if (m.state === 'sent') this.flushAttempt = 0;
      },
      classify: toAppErrorCode,
      inChat: (chatId, task) => o.sm.inChat(chatId, task),
    });
  }

  /** Sends what waits, now. */
  flush(): Promise<void> {
    return this.outbox.flush();
  }

  stop(): void {
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
  }

  sendText(contact: string, text: string): Promise<string> {
    return this.queue(contact, { kind: 'text', text });
  }

  async sendPhoto(contact: string, file: Blob): Promise<string> {
    this.o.memory.requirePeer(contact);
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
    return this.queue(contact, { kind: 'photo', photo }, (id) => [
      { kind: 'put', key: RECORD.photo(id), value: { mime: prepared.mime, bytes: prepared.bytes } },
      { kind: 'put', key: RECORD.outgoingPhoto(id), value: prepared },
    ]);
  }

  /**
   * A chat deleted here (removed or blocked on this device): the writes that take what still
   * waits for it out of the outbox, for the deletion's transaction, so a resend of stored
   * ciphertext cannot reach the contact later. Sends in flight are cancelled and write nothing
   * more (Outbox.forget).
   */
  forgetOps(contact: string, chatId: string): Promise<WriteOp[]> {
    return this.dropOps((i) => i.contact === contact || i.chatId === chatId);
  }

  /**
   * After a chat's deletion: removes what is still queued for it (a message written while the
   * deletion ran, after forgetOps listed the outbox; Outgoing.queue takes no lock).
   */
  async sweepChat(chatId: string): Promise<void> {
    const ops = await this.dropOps((i) => i.chatId === chatId);
    if (ops.length > 0) await this.o.storage.write(ops);
  }

  /** The writes that take the items `which` picks out of the outbox, with their records. */
  private async dropOps(which: (item: OutboxItem) => boolean): Promise<WriteOp[]> {
    const items = (await this.outbox.pending()).filter(which);
    for (const item of items) this.outbox.forget(item.id);
    return items.flatMap((i): WriteOp[] => [
      { kind: 'delete', key: RECORD.outbox(i.id) },
      { kind: 'deleteMessage', id: i.id },
      { kind: 'delete', key: RECORD.outgoingPhoto(i.id) },
      { kind: 'delete', key: RECORD.uploadedPhoto(i.id) },
      { kind: 'delete', key: RECORD.photo(i.id) },
    ]);
  }

  /** The deletion forgetOps was for failed: what waits for `contact` is sent again. */
  async keep(contact: string): Promise<void> {
    for (const item of await this.outbox.pending()) if (item.contact === contact) this.outbox.keep(item.id);
  }

  retry(id: string): Promise<void> {
    return this.outbox.retry(id);
  }

  cancel(id: string): void {
    this.outbox.cancel(id);
  }

  /**
   * Outbox items of `contact` already sealed (for the old key): with the acceptance, in the
   * same transaction, their ciphertext is dropped so the next flush seals them for the new key
   * — under a new client_id, since the relay may hold the old bytes under the old one. Never
   * before acceptance (SECURITY.md, "Trust model").
   */
  async resealOps(contact: string): Promise<() => WriteOp[]> {
    const sealed = (await this.outbox.pending()).filter((i) => i.contact === contact && i.wire);
    return () =>
      sealed.map((item) => {
        const n = Number(/_r(\d+)$/.exec(item.clientId ?? '')?.[1] ?? 0) + 1;
        const next: OutboxItem = { ...item, wire: null, failed: null, clientId: `${item.id}_r${n}` };
        return { kind: 'put', key: RECORD.outbox(item.id), value: next };
      });
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

  /**
   * New messages are created after those still waiting in the outbox, whatever the clock says
   * now: a clock set back between two sends (corrected after a boot) across a reload would
   * otherwise put the later message first.
   */
  async load(): Promise<void> {
    await this.sweepPhotoRecords();
    for (const item of await this.outbox.pending())
      this.lastCreatedAt = Math.max(this.lastCreatedAt, item.createdAt);
  }

  /**
   * A photo's prepared bytes and upload record live as long as its outbox item. A crash between
   * a send and their clean-up (onChange), or between a deletion and an upload, leaves them
   * behind: they go when the app opens. The records are listed before the outbox items, so a
   * photo queued meanwhile (by another tab, where there are no Web Locks: its record and item are
   * written together) is never taken for an orphan.
   */
  private async sweepPhotoRecords(): Promise<void> {
    const records: { key: string; id: string }[] = [];
    for (const prefix of [RECORD.outgoingPhotoPrefix, RECORD.uploadedPhotoPrefix])
      for (const { key } of await this.o.storage.list(prefix))
        records.push({ key, id: key.slice(prefix.length) });
    if (records.length === 0) return;
    const pending = new Set((await this.outbox.pending()).map((i) => i.id));
    const orphans = records.filter((r) => !pending.has(r.id));
    if (orphans.length > 0) await this.o.storage.write(orphans.map(({ key }) => ({ kind: 'delete', key })));
  }

  /**
   * Creation times of outgoing messages, strictly increasing: the outbox sends in createdAt
   * order, and two messages written in the same millisecond must not go out in the order of
   * their random ids.
   */
  private nextCreatedAt(): number {
    this.lastCreatedAt = Math.max(this.o.clock(), this.lastCreatedAt + 1);
    return this.lastCreatedAt;
  }

  /** Stores an outgoing message and its outbox item in one transaction (plus `extra` writes). */
  private async queue(
    contact: string,
    body: Exclude<StoredMessage['body'], { kind: TimelineKind }>,
    extra: (id: string) => WriteOp[] = () => [],
  ): Promise<string> {
    const peer = this.o.memory.requirePeer(contact);
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
    // Stored at once, without waiting for the chat's lock (a seal may hold it across a request
    // to the relay, and the composer has already cleared the text). A message written as its
    // chat is deleted is taken back: here when the deletion committed first, else by the
    // deletion's own sweep (sweepChat).
    await this.outbox.enqueue(message, item, extra(id));
    if ((await this.o.sm.peer(contact))?.chatId !== peer.chatId) {
      await this.sweepChat(peer.chatId);
      throw new AppError('not_found');
    }
    return id;
  }

  /**
   * Sends a sealed set (spec §16 fan-out) under the item's client_id. A 409 stale_devices
   * reseals for the relay's current lists — bundles for the new devices only, sessions of
   * removed devices dropped, unchanged copies kept — stores the new set with its ratchet
   * states, and resends the WHOLE set with the same client_id, at most MAX_STALE_RETRIES times.
   */
  private async sendItem(item: OutboxItem, wire: SealedWire): Promise<{ relayId: number; extra: WriteOp[] }> {
    const clientId = item.clientId ?? item.id;
    let sealed = wire;
    for (let attempt = 0; ; attempt++) {
      try {
        const result = isSealedSend(sealed)
          ? await this.o.relay.sendMessage(item.contact, clientId, sealed.recipient, sealed.own)
          : // A ciphertext stored before linked devices was sealed on device 1's session.
            await this.o.relay.sendMessage(item.contact, clientId, [{ deviceId: 1, body: sealed }]);
        return { relayId: result.id, extra: copyRefs(result, item.id) };
      } catch (err) {
        const stale = err instanceof ApiError && err.code === 'stale_devices' ? err.staleDevices : undefined;
        if (!stale || attempt >= MAX_STALE_RETRIES) throw err;
        if (!isSealedSend(sealed)) {
          // The old single ciphertext has no frame to reseal from: nothing of it was stored
          // (a refused send stores nothing), so the message is sealed again for every device,
          // under a new client_id as after a key change.
          await this.outbox.replaceItem({ ...item, wire: null, clientId: `${item.id}_r1` });
          throw new ApiError(0, 'network', 'resealing for the current devices');
        }
        const current: OutboxItem = { ...item, wire: sealed };
        sealed = await this.o.sm.resealFanOut(item.contact, sealed, stale, (s) => [
          { kind: 'put', key: RECORD.outbox(item.id), value: { ...current, wire: s } satisfies OutboxItem },
        ]);
      }
    }
  }

  private async encryptItem(
    item: OutboxItem,
    persist: (wire: SealedWire) => WriteOp[],
    signal: AbortSignal,
  ): Promise<SealedWire> {
    if (item.kind === 'text') {
      const m = await this.o.storage.getMessage<StoredMessage>(item.id);
      if (m?.body.kind !== 'text') throw new AppError('unknown');
      return this.o.sm.sealFanOut(
        item.contact,
        { contentType: 'text', body: new TextEncoder().encode(m.body.text) },
        persist,
        { sentAt: item.createdAt },
      );
    }
    // Checked before the upload too, not only when sealing: a held photo is not uploaded.
    assertSendable(await this.o.sm.peer(item.contact));
    const prepared = await this.o.storage.get<Awaited<ReturnType<typeof preparePhoto>>>(
      RECORD.outgoingPhoto(item.id),
    );
    if (!prepared) throw new AppError('unknown');
    try {
      // spec §10 v3: a random photo key, the blob uploaded ONCE; every device's copy carries
      // the same photo message (key, digest, blob id), and so does a retry (RECORD.uploadedPhoto).
      let body = await this.o.storage.get<Uint8Array>(RECORD.uploadedPhoto(item.id));
      if (!body) {
        const photoKey = newPhotoKey();
        const sealed = await sealPhoto(photoKey, prepared);
        const upload = this.o.uploadPhoto ?? uploadPhotoBlob;
        const uploaded = await upload(this.o.api.http, item.contact, sealed.ciphertext, {
          signal,
          onProgress: (f) => this.o.memory.setProgress(item.id, item.contact, f),
        });
        body = photoMetadataPlaintext(prepared, sealed, uploaded.id, photoKey);
        // Cancelled or its chat deleted while the upload finished: the record would outlive it.
        signal.throwIfAborted();
        await this.o.storage.put(RECORD.uploadedPhoto(item.id), body);
      }
      return await this.o.sm.sealFanOut(item.contact, { contentType: 'photo', body }, persist, {
        sentAt: item.createdAt,
      });
    } finally {
      this.o.memory.setProgress(item.id, item.contact, undefined);
    }
  }
}

/** Every copy's relay id → the message (a delivered item names a copy). */
function copyRefs(result: SendResult, messageId: string): WriteOp[] {
  const ids = new Set([result.id, ...result.copies.filter((c) => !c.own).map((c) => c.id)]);
  return [...ids].map((id): WriteOp => ({ kind: 'put', key: RECORD.copy(id), value: messageId }));
}
