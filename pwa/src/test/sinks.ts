// The Messenger's sinks as plain signals, for tests that drive a Messenger without the app
// around it: each chat's messages and each photo get their signal on first use.
import { type Signal, signal } from '@preact/signals-react';
import type { MessengerSinks } from '../state/messenger.ts';
import type { ChatMessage, ChatSummary, ConnectionStatus, Contact, PhotoView } from '../state/types.ts';

export function makeSinks() {
  const messages = new Map<string, Signal<readonly ChatMessage[]>>();
  const photos = new Map<string, Signal<PhotoView>>();
  return {
    contacts: signal<readonly Contact[]>([]),
    chats: signal<readonly ChatSummary[]>([]),
    connection: signal<ConnectionStatus>('offline'),
    ownIdentity: signal<{ readonly at: number } | null>(null),
    messages(contact: string) {
      const s = messages.get(contact) ?? signal<readonly ChatMessage[]>([]);
      messages.set(contact, s);
      return s;
    },
    photo(id: string) {
      const s = photos.get(id) ?? signal<PhotoView>({ status: 'idle', progress: 0, url: null });
      photos.set(id, s);
      return s;
    },
  } satisfies MessengerSinks;
}
