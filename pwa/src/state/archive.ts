// Reading a read-only archive (storage/idb-archive.ts): the chats and messages of earlier keys,
// shown as they were stored. It reads contacts, messages and kept photo bytes only; an archive
// holds no keys or sessions, so nothing here can decrypt, send or acknowledge anything.
import { type ChatMeta, isKnownMessage, RECORD as OUTBOX, type StoredMessage } from '../outbox/records.ts';
import { RECORD as SECURE, type StoredPeer } from '../secure/records.ts';
import type { Storage } from '../storage/storage.ts';
import { compareForDisplay, toChatMessage } from './projection.ts';
import type { ArchiveContents, ArchivedChat, ChatMessage } from './types.ts';

/** What was still on its way when archived never went: shown as not sent. */
const asArchived = (m: ChatMessage): ChatMessage =>
  m.direction === 'out' && (m.state === 'queued' || m.state === 'sending') ? { ...m, state: 'failed' } : m;

export async function readArchive(store: Storage, id: string, archivedAt: number): Promise<ArchiveContents> {
  const chats: (ArchivedChat & { last: number })[] = [];
  for (const { value: peer } of await store.list<StoredPeer>(SECURE.peerPrefix)) {
    const rows = await store.messages<StoredMessage>(peer.chatId);
    const sorted = rows
      .map((r) => r.value)
      .filter(isKnownMessage)
      .sort(compareForDisplay);
    const meta = await store.get<ChatMeta>(OUTBOX.chatMeta(peer.chatId));
    if (sorted.length === 0 && !meta) continue;
    chats.push({
      contact: peer.username,
      messages: sorted.map((m) => asArchived(toChatMessage(m))),
      last: sorted.at(-1)?.at ?? 0,
    });
  }
  chats.sort((a, b) => b.last - a.last);
  return { id, archivedAt, chats: chats.map(({ contact, messages }) => ({ contact, messages })) };
}

/** The stored bytes of an archived photo as an object URL, or null when none were kept. */
export async function archivedPhotoUrl(store: Storage, messageId: string): Promise<string | null> {
  const local = await store.get<{ mime: string; bytes: Uint8Array }>(OUTBOX.photo(messageId));
  if (!local) return null;
  return URL.createObjectURL(new Blob([local.bytes as Uint8Array<ArrayBuffer>], { type: local.mime }));
}
