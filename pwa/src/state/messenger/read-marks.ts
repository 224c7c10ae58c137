// Read marks: per chat, the time up to which the user has read it (the unread counts of the
// chat list). Stored per chat id; a failed write only loses the mark.
import { type ChatMeta, RECORD } from '../../outbox/records.ts';
import type { StoredPeer } from '../../secure/records.ts';
import type { Storage } from '../../storage/storage.ts';

export class ReadMarks {
  private readonly marks = new Map<string, ChatMeta>();

  constructor(
    private readonly storage: Storage,
    private readonly clock: () => number,
  ) {}

  async load(peer: StoredPeer): Promise<void> {
    const meta = await this.storage.get<ChatMeta>(RECORD.chatMeta(peer.chatId));
    if (meta) this.marks.set(peer.username, meta);
  }

  get(contact: string): ChatMeta | undefined {
    return this.marks.get(contact);
  }

  /** Marks `peer`'s chat read up to now. */
  mark(peer: StoredPeer): void {
    const meta: ChatMeta = { readUpTo: this.clock() };
    this.marks.set(peer.username, meta);
    void this.storage.put(RECORD.chatMeta(peer.chatId), meta).catch(() => undefined);
  }
}
