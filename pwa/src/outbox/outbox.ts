// The outbox (RELIABILITY.md: nothing lost, nothing duplicated): every outgoing message is first stored (message + outbox item in
// one transaction), then sent when the network allows, exactly once: its id is the relay's
// client_id, and once encrypted its ciphertext is stored with the new ratchet state, so a
// retry after a crash or a lost answer resends the same bytes and the relay deduplicates.
// Order per contact is kept: a message waits while an older one to the same contact waits.

import type { AppErrorCode, DeliveryState } from '../state/types.ts';
import { type Storage, StorageLockedError, type WriteOp } from '../storage/storage.ts';
import { ApiError } from '../transport/errors.ts';
import { isKnownItem, type OutboxItem, RECORD, type SealedWire, type StoredMessage } from './records.ts';

interface SendResult {
  readonly relayId: number;
  /** Writes stored with the "sent" state (e.g. the copy ids of a fan-out send). */
  readonly extra?: WriteOp[];
}

export interface OutboxDeps {
  readonly storage: Storage;
  /** Encrypts the item; must store `persist(wire)` with the new ratchet state. */
  encrypt(
    item: OutboxItem,
    persist: (wire: SealedWire) => WriteOp[],
    signal: AbortSignal,
  ): Promise<SealedWire>;
  send(item: OutboxItem, wire: SealedWire): Promise<SendResult>;
  /**
   * Called before stored ciphertext is sent again: throws (e.g. key_change_unacknowledged)
   * when it may no longer be sent — it was sealed for a key the contact no longer has.
   */
  beforeResend?(item: OutboxItem): Promise<void>;
  /** A message's delivery state changed (for the UI). */
  onChange(message: StoredMessage): void;
  /** Maps a failure to a user-facing code; 'network' means "try again when online". */
  classify(error: unknown): AppErrorCode;
  /**
   * Runs `task` under the lock of the chat `chatId`, which a deletion of the chat holds from the
   * moment it forgets the chat's items (forget) until its messages are gone: every write the
   * outbox makes to a chat's message state and items runs under it, so it lands wholly before
   * the deletion (which then takes it) or after (and sees the item forgotten or the row gone),
   * never between. Default: no lock (a caller that deletes no chats).
   */
  inChat?<T>(chatId: string, task: () => Promise<T>): Promise<T>;
}

/** Failures that leave a message queued for the next flush instead of failing it. */
const TRANSIENT: ReadonlySet<AppErrorCode> = new Set([
  'network',
  'rate_limited',
  // The recipient's device fetches its messages, and there is room again (spec/openapi.yaml
  // POST /send_message, MAX_PENDING_MESSAGES).
  'mailbox_full',
  'unauthorized',
  'key_change_unacknowledged',
  // Held while the contact is marked blocked from another device (spec/protocol.md §16.4).
  'contact_blocked',
]);

/**
 * The relay, or the proxy in front of it, failed (5xx: the database restarting, the relay
 * restarting behind Caddy): it may work in a moment, so the message waits and is sent again
 * with the same client_id, which the relay deduplicates if it did store it.
 */
const serverFailed = (err: unknown): boolean => err instanceof ApiError && err.status >= 500;

export class Outbox {
  private running: Promise<void> | null = null;
  private again = false;
  private readonly controllers = new Map<string, AbortController>();
  /**
   * Items whose chat is being deleted (forget): a pass that listed them before the deletion
   * skips them, and one sending them writes nothing more, so no state, outbox item or record of
   * theirs outlives the deletion. Dropped once a pass lists the outbox without them.
   */
  private readonly forgotten = new Set<string>();

  constructor(private readonly deps: OutboxDeps) {}

  /** Stores a new outgoing message and its outbox item together, then starts sending. */
  async enqueue(message: StoredMessage, item: OutboxItem, extra: WriteOp[] = []): Promise<void> {
    await this.deps.storage.write([
      { kind: 'putMessage', chat: item.chatId, id: message.id, value: message },
      { kind: 'put', key: RECORD.outbox(item.id), value: item },
      ...extra,
    ]);
    this.deps.onChange(message);
    void this.flush();
  }

  /** Sends what can be sent; concurrent calls coalesce into one more pass. */
  flush(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again);
    })()
      .catch((err: unknown) => {
        // Locked under a running pass (log out): stop. What was not marked sent stays in the
        // outbox with its stored ciphertext, and the relay deduplicates the resend by client_id.
        if (!(err instanceof StorageLockedError)) throw err;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /** Queues a failed message again (same id, same ciphertext if it was made). */
  async retry(id: string): Promise<void> {
    const found = await this.deps.storage.get<OutboxItem>(RECORD.outbox(id));
    if (!found) return;
    await this.inChat(found.chatId, async () => {
      const item = await this.deps.storage.get<OutboxItem>(RECORD.outbox(id));
      if (!item || this.forgotten.has(id)) return;
      await this.writeState(item, 'queued', undefined, [
        { kind: 'put', key: RECORD.outbox(id), value: { ...item, failed: null } },
      ]);
    });
    await this.flush();
  }

  /** Stores `next` in place of its item, unless the item is gone or forgotten meanwhile. */
  async replaceItem(next: OutboxItem): Promise<void> {
    await this.inChat(next.chatId, async () => {
      if (this.forgotten.has(next.id) || !(await this.deps.storage.get(RECORD.outbox(next.id)))) return;
      await this.deps.storage.put(RECORD.outbox(next.id), next);
    });
  }

  private inChat<T>(chatId: string, task: () => Promise<T>): Promise<T> {
    return this.deps.inChat ? this.deps.inChat(chatId, task) : task();
  }

  /** Cancels the message's upload in flight, if any. */
  cancel(id: string): void {
    this.controllers.get(id)?.abort();
  }

  /**
   * The message's chat is being deleted, and the deletion takes its outbox item and records: a
   * send in flight is cancelled, and nothing more is sent or written for it (its message's state
   * included). `keep` undoes it, for a deletion that failed.
   */
  forget(id: string): void {
    this.forgotten.add(id);
    this.controllers.get(id)?.abort();
  }

  keep(id: string): void {
    this.forgotten.delete(id);
  }

  async pending(): Promise<OutboxItem[]> {
    const items = (await this.deps.storage.list<OutboxItem>(RECORD.outboxPrefix)).map((r) => r.value);
    return items.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  /** Writes a message's new state (and `extra`) under its chat's lock (OutboxDeps.inChat). */
  private setState(...args: Parameters<Outbox['writeState']>): Promise<void> {
    return this.inChat(args[0].chatId, () => this.writeState(...args));
  }

  /** setState's work, for a caller already under the chat's lock. */
  private async writeState(
    item: OutboxItem,
    state: DeliveryState,
    error: AppErrorCode | undefined,
    extra: WriteOp[] = [],
    relayId?: number,
  ): Promise<void> {
    if (this.forgotten.has(item.id)) return;
    const current = await this.deps.storage.getMessage<StoredMessage>(item.id);
    if (!current) return;
    const { error: _old, ...rest } = current;
    const next: StoredMessage = {
      ...rest,
      // Delivered is final: the recipient's receipt can come before the outbox learns that its
      // send was stored (an answer lost, then resent and answered as a duplicate).
      state: current.state === 'delivered' ? 'delivered' : state,
      ...(error ? { error } : {}),
      ...(relayId !== undefined ? { relayId } : {}),
    };
    await this.deps.storage.write([
      { kind: 'putMessage', chat: item.chatId, id: item.id, value: next },
      ...extra,
    ]);
    this.deps.onChange(next);
  }

  private async pass(): Promise<void> {
    const waiting = new Set<string>(); // contacts with an older message still waiting
    const items = await this.pending();
    // Passes run one at a time: an item forgotten and gone from this list is out of every
    // pass's reach now.
    const listed = new Set(items.map((i) => i.id));
    for (const id of this.forgotten) if (!listed.has(id)) this.forgotten.delete(id);
    for (const item of items) {
      if (this.forgotten.has(item.id) || !isKnownItem(item)) continue;
      if (item.failed || waiting.has(item.contact)) {
        waiting.add(item.contact);
        continue;
      }
      const outcome = await this.sendOne(item);
      if (outcome === 'offline') return; // nothing else will get through either
      if (outcome !== 'sent') waiting.add(item.contact);
    }
  }

  private async sendOne(item: OutboxItem): Promise<'sent' | 'waiting' | 'failed' | 'offline'> {
    const controller = new AbortController();
    this.controllers.set(item.id, controller);
    try {
      let wire = item.wire;
      if (!wire) {
        await this.setState(item, 'sending', undefined);
        wire = await this.deps.encrypt(
          item,
          (w) => [
            { kind: 'put', key: RECORD.outbox(item.id), value: { ...item, wire: w } satisfies OutboxItem },
          ],
          controller.signal,
        );
      } else {
        await this.deps.beforeResend?.(item);
        await this.setState(item, 'sending', undefined);
      }
      const { relayId, extra = [] } = await this.deps.send(item, wire);
      await this.setState(
        item,
        'sent',
        undefined,
        [{ kind: 'delete', key: RECORD.outbox(item.id) }, ...extra],
        relayId,
      );
      return 'sent';
    } catch (err) {
      const code = controller.signal.aborted ? 'cancelled' : this.deps.classify(err);
      const unreachable = code === 'network' || serverFailed(err);
      if (unreachable || TRANSIENT.has(code)) {
        await this.setState(item, 'queued', unreachable ? undefined : code);
        return unreachable || (err instanceof ApiError && err.status === 401) ? 'offline' : 'waiting';
      }
      // Delivered already (its receipt came before this resend's answer): it reached the
      // recipient, and a failed resend must not hold the chat behind a message shown delivered,
      // which has no retry.
      if (this.forgotten.has(item.id)) return 'waiting';
      if ((await this.deps.storage.getMessage<StoredMessage>(item.id))?.state === 'delivered') {
        await this.deps.storage.delete(RECORD.outbox(item.id));
        return 'sent';
      }
      const fresh = (await this.deps.storage.get<OutboxItem>(RECORD.outbox(item.id))) ?? item;
      await this.setState(item, 'failed', code, [
        { kind: 'put', key: RECORD.outbox(item.id), value: { ...fresh, failed: code } },
      ]);
      return 'failed';
    } finally {
      this.controllers.delete(item.id);
    }
  }
}
