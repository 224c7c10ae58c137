// Where a contact's chat and safety screen are: by this device's id for the chat
// (StoredPeer.chatId), never by the username, which the browser would keep in its History
// outside the app's encrypted store (SECURITY.md, "What a user's device holds"; the route:
// src/views/contact-route.tsx).
import type { Contact } from './types.ts';

const PATHS = {
  chat: (ref: string) => `/chats/${ref}`,
  safety: (ref: string) => `/contacts/${ref}/safety`,
} as const;

/** A chat's id (a random UUID), as opposed to a username (which has no '-'). */
export const CHAT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The address of `username`'s chat or safety screen: by its chat's id once it is a contact. */
export function contactPath(
  contacts: readonly Contact[],
  username: string,
  screen: keyof typeof PATHS = 'chat',
): string {
  const known = contacts.find((c) => c.username === username);
  return PATHS[screen](known ? known.chatId : encodeURIComponent(username));
}
