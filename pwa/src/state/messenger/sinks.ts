// What a Messenger publishes for the views: the signals it is given by the app state.
import type { Signal } from '@preact/signals-react';
import type { ChatMessage, ChatSummary, ConnectionStatus, Contact, PhotoView } from '../types.ts';

export interface MessengerSinks {
  readonly contacts: Signal<readonly Contact[]>;
  /**
   * This account's identity key was replaced elsewhere (the relay's identity_replaced event,
   * or the relay no longer publishing this device's key): when this device learnt it.
   */
  readonly ownIdentity?: Signal<OwnIdentityWarning | null>;
  readonly chats: Signal<readonly ChatSummary[]>;
  readonly connection: Signal<ConnectionStatus>;
  messages(contact: string): Signal<readonly ChatMessage[]>;
  photo(messageId: string): Signal<PhotoView>;
}

/** The owner's identity warning (SECURITY.md, "Trust model"), stored until dismissed. */
export interface OwnIdentityWarning {
  readonly at: number;
}
