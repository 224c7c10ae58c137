// Showing photos: from the store, or downloaded from the relay, decrypted, stored for offline
// viewing and acknowledged (spec/protocol.md §10), published as object URLs.
import { RECORD, type StoredMessage } from '../../outbox/records.ts';
import { expectedCiphertextBytes, openPhoto } from '../../photo/seal.ts';
import { downloadPhotoBlob } from '../../photo/transfer.ts';
import type { Storage } from '../../storage/storage.ts';
import type { RelayApi } from '../../transport/api.ts';
import { toAppErrorCode } from '../error-map.ts';
import { AppError } from '../errors.ts';
import type { AckBatcher } from './acks.ts';
import type { ChatMemory } from './chat-memory.ts';
import type { MessengerSinks } from './sinks.ts';

export class PhotoLoader {
  private readonly urls = new Map<string, string>();
  /** Stopped (the app locked or closed the session): no decrypted photo is published again. */
  private stopped = false;

  constructor(
    private readonly o: {
      readonly storage: Storage;
      readonly api: Pick<RelayApi, 'http'>;
      readonly sinks: Pick<MessengerSinks, 'photo'>;
      readonly memory: ChatMemory;
      readonly acks: AckBatcher;
    },
  ) {}

  /** Starts showing the photo of `messageId` (from the store, or downloaded and decrypted). */
  async load(messageId: string): Promise<void> {
    const view = this.o.sinks.photo(messageId);
    if (view.value.status === 'loading' || view.value.status === 'ready') return;
    view.value = { status: 'loading', progress: 0, url: null };
    try {
      let local = await this.o.storage.get<{ mime: string; bytes: Uint8Array }>(RECORD.photo(messageId));
      if (!local)
        local = await this.download(messageId, (p) => {
          view.value = { status: 'loading', progress: p, url: null };
        });
      // Read or downloaded while the app locked: the views were emptied, and stay so.
      if (this.stopped) return;
      const url = URL.createObjectURL(
        new Blob([local.bytes as Uint8Array<ArrayBuffer>], { type: local.mime }),
      );
      this.urls.set(messageId, url);
      view.value = { status: 'ready', progress: 1, url };
    } catch (err) {
      if (this.stopped) return;
      view.value = { status: 'failed', progress: 0, url: null, error: toAppErrorCode(err) };
    }
  }

  /** Releases the object URLs handed out, and makes no more. */
  stop(): void {
    this.stopped = true;
    for (const url of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
  }

  private async download(messageId: string, onProgress: (p: number) => void) {
    const m = await this.o.storage.getMessage<StoredMessage>(messageId);
    if (m?.body.kind !== 'photo') throw new AppError('not_found');
    const p = m.body.photo;
    const peer = this.o.memory.requirePeer(m.contact);
    // A version 2 photo (keys from its message key) cannot be opened any more (spec §10: v2
    // refused); only the v3 photo key opens a blob.
    if (!p.blobId || !p.photoKey || !p.ciphertextSha256) throw new AppError('not_found');
    const meta = {
      photoKey: p.photoKey,
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
    const bytes = await openPhoto(meta, blob);
    // Keep the decrypted photo for offline viewing; the key is no longer needed.
    const { photoKey: _k, messageKey: _m, header: _h, ...kept } = p;
    const updated: StoredMessage = { ...m, body: { kind: 'photo', photo: kept } };
    // The chat may have been deleted during the download: its photo is not written back (the
    // blob is still acknowledged, so the relay can delete it).
    if (!(await this.o.storage.getMessage(messageId))) {
      this.o.acks.photo(p.blobId);
      throw new AppError('not_found');
    }
    await this.o.storage.write([
      { kind: 'put', key: RECORD.photo(messageId), value: { mime: p.mime, bytes } },
      { kind: 'putMessage', chat: peer.chatId, id: messageId, value: updated },
    ]);
    this.o.acks.photo(p.blobId);
    return { mime: p.mime, bytes };
  }
}
