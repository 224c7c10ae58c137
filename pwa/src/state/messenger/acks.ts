// Acknowledgement batching: what this device has stored is acknowledged to the relay in one
// acknowledgement per short delay (spec/protocol.md §7.6), so a burst of messages costs one
// request: an ack frame on the open socket, else POST /ack (transport/socket-first.ts).
// A failed acknowledgement is queued again: the relay keeps the items and sends them again,
// and they are then recognised as duplicates.
import type { SocketFirst } from '../../transport/socket-first.ts';

const ACK_DELAY_MS = 50;
/** Items of each kind per POST /ack (the relay's limit per list). */
const ACK_BATCH = 500;

export class AckBatcher {
  private messages: number[] = [];
  private photos: string[] = [];
  private noReceipt: number[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly api: Pick<SocketFirst, 'ack'>) {}

  /** A stored message, acknowledged with a delivery receipt to its sender. */
  message(relayId: number): void {
    this.messages.push(relayId);
    this.schedule();
  }

  /**
   * A stored message acknowledged WITHOUT a delivery receipt (spec/openapi.yaml, POST /ack
   * no_receipt_ids): control messages and message requests not yet accepted.
   */
  withoutReceipt(relayId: number): void {
    this.noReceipt.push(relayId);
    this.schedule();
  }

  /** A downloaded and stored photo blob: the relay may delete it. */
  photo(blobId: string): void {
    this.photos.push(blobId);
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const ids = this.messages.splice(0, ACK_BATCH);
      const photos = this.photos.splice(0, ACK_BATCH);
      const silent = this.noReceipt.splice(0, ACK_BATCH);
      if (!ids.length && !photos.length && !silent.length) return;
      this.api.ack(ids, photos, silent).catch(() => {
        this.noReceipt.push(...silent);
        this.messages.push(...ids);
        this.photos.push(...photos);
      });
    }, ACK_DELAY_MS);
  }
}
