// Stored records → what views see (ChatMessage, ChatSummary, Contact). Keys and ids that
// views have no business with (photo keys, blob ids) stay behind.
import type { ChatMeta, StoredMessage } from '../outbox/records.ts';
import type { StoredPeer } from '../secure/records.ts';
import { isTimelineBody } from './timeline.ts';
import type { ChatMessage, ChatSummary, Contact } from './types.ts';

const PREVIEW_CHARS = 100;

/**
 * Display order of a chat: by the sender's time (sealed inside each incoming message, ours for
 * outgoing ones), then — for two incoming messages — by the sender's order number, so messages
 * the relay delivered out of order show in the order they were written; then by arrival.
 * Senders never give a later order number an earlier time (SessionManager), so for incoming
 * messages this is exactly the sender's order.
 */
export function compareForDisplay(a: StoredMessage, b: StoredMessage): number {
  if (a.at !== b.at) return a.at - b.at;
  if (a.direction === b.direction && a.order !== undefined && b.order !== undefined && a.order !== b.order)
    return a.order - b.order;
  // spec §16: the same time and order from two of the sender's devices — by device id.
  if (a.fromDevice !== undefined && b.fromDevice !== undefined && a.fromDevice !== b.fromDevice)
    return a.fromDevice - b.fromDevice;
  return a.storedAt - b.storedAt;
}

export function toChatMessage(m: StoredMessage, progress?: number): ChatMessage {
  const body: ChatMessage['body'] =
    m.body.kind === 'text'
      ? { kind: 'text' as const, text: m.body.text }
      : m.body.kind === 'keyChange'
        ? m.body.refused
          ? { kind: 'keyChange' as const, refused: true as const }
          : { kind: 'keyChange' as const }
        : m.body.kind === 'expired' || m.body.kind === 'acceptedElsewhere'
          ? m.body
          : {
              kind: 'photo' as const,
              photo: {
                mime: m.body.photo.mime,
                width: m.body.photo.width,
                height: m.body.photo.height,
                size: m.body.photo.size,
              },
            };
  return {
    id: m.id,
    contact: m.contact,
    direction: m.direction,
    at: m.at,
    ...(m.receivedAt !== undefined ? { receivedAt: m.receivedAt } : {}),
    state: m.state,
    body,
    ...(progress !== undefined ? { progress } : {}),
    ...(m.error ? { error: m.error } : {}),
  };
}

export function toContact(p: StoredPeer): Contact {
  return {
    username: p.username,
    chatId: p.chatId,
    verified: p.verified,
    keyChanged: p.keyChanged,
    verifiedBeforeChange: p.keyChanged && p.verifiedBeforeChange === true,
    ...(p.request ? { request: true } : {}),
    ...(p.blocked ? { blocked: true } : {}),
    addedAt: p.addedAt,
  };
}

export function summarise(
  peer: StoredPeer,
  messages: readonly StoredMessage[],
  meta: ChatMeta | undefined,
): ChatSummary {
  // Timeline entries (a key change, expired messages) are neither the last message nor unread;
  // expired messages not yet seen are counted apart.
  const real = messages.filter(isMessage);
  let last: (StoredMessage & { body: { kind: 'text' | 'photo' } }) | undefined;
  for (const m of real) if (!last || compareForDisplay(last, m) <= 0) last = m;
  const readUpTo = meta?.readUpTo ?? 0;
  let unread = 0;
  for (const m of real) if (m.direction === 'in' && m.storedAt > readUpTo) unread += 1;
  let expired = 0;
  for (const m of messages) if (m.body.kind === 'expired' && m.storedAt > readUpTo) expired += m.body.count;
  return {
    contact: peer.username,
    last: last
      ? {
          kind: last.body.kind,
          preview: last.body.kind === 'text' ? [...last.body.text].slice(0, PREVIEW_CHARS).join('') : '',
          at: last.at,
          outgoing: last.direction === 'out',
        }
      : null,
    unread,
    keyChanged: peer.keyChanged,
    ...(expired > 0 ? { expired } : {}),
  };
}

const isMessage = (m: StoredMessage): m is StoredMessage & { body: { kind: 'text' | 'photo' } } =>
  !isTimelineBody(m.body);

/** Newest activity first; chats without messages by when the contact was added. */
export function sortChats(chats: ChatSummary[], addedAt: (contact: string) => number): ChatSummary[] {
  return chats.sort((a, b) => (b.last?.at ?? addedAt(b.contact)) - (a.last?.at ?? addedAt(a.contact)));
}
