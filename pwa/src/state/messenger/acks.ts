// Acknowledgement batching: what this device has stored is acknowledged to the relay in one
// acknowledgement per short delay (spec/protocol.md §7.6), so a burst of messages costs one
// request: an ack frame on the open socket, else POST /ack (transport/socket-first.ts).
// A failed acknowledgement is queued again and sent again after a backoff, by itself: a photo's
// has no other way back (the blob would stay on the relay, counted in its sender's quota, until
// retention), and a message's is otherwise found again only on the next connection.
import { backoffDelay } from '../../transport/backoff.ts';
import type { SocketFirst } from '../../transport/socket-first.ts';

const ACK_DELAY_MS = 50;
/** Items of each kind per POST /ack (the relay's limit per list). */
const ACK_BATCH = 500;
/** Waits before sending a failed acknowledgement again: from 1 s, doubling up to a minute. */
const ACK_RETRY = { baseMs: 1000, maxMs: 60_000 };

export class AckBatcher {
  private messages: number[] = [];
  private photos: string[] = [];
  private noReceipt: number[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Acknowledgements failed in a row (the retry's backoff). */
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly api: Pick<SocketFirst, 'ack'>,
    private readonly random: () => number = Math.random,
  ) {}

  /** A stored message, acknowledged with a delivery receipt to its sender. */
  message(relayId: number): void {
    this.messages.push(relayId);
    this.schedule(ACK_DELAY_MS);
  }

  /**
   * A stored message acknowledged WITHOUT a delivery receipt (spec/openapi.yaml, POST /ack
   * no_receipt_ids): control messages, message requests not yet accepted, and messages that
   * do not open.
   */
  withoutReceipt(relayId: number): void {
    this.noReceipt.push(relayId);
    this.schedule(ACK_DELAY_MS);
  }

  /** A downloaded and stored photo blob: the relay may delete it. */
  photo(blobId: string): void {
    this.photos.push(blobId);
    this.schedule(ACK_DELAY_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.send();
    }, ms);
  }

  private async send(): Promise<void> {
    const ids = this.messages.splice(0, ACK_BATCH);
    const photos = this.photos.splice(0, ACK_BATCH);
    const silent = this.noReceipt.splice(0, ACK_BATCH);
    if (!ids.length && !photos.length && !silent.length) return;
    try {
      await this.api.ack(ids, photos, silent);
      this.failures = 0;
    } catch {
      this.noReceipt.push(...silent);
      this.messages.push(...ids);
      this.photos.push(...photos);
      this.failures += 1;
      this.schedule(backoffDelay(this.failures - 1, this.random(), ACK_RETRY));
      return;
    }
    // More than one batch was waiting: the rest goes now.
    if (this.messages.length || this.photos.length || this.noReceipt.length) this.schedule(ACK_DELAY_MS);
  }
}
