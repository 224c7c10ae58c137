// The app state: signals views read and actions views call (interface in types.ts).
// SKELETON: the signals are real; actions that need storage/transport/crypto reject with
// AppError('unknown') until those layers are wired in (see the TODO list in each action).
import { computed, type Signal, signal } from '@preact/signals-react';
import { language, setLanguage } from '../i18n/i18n.ts';
import { AppError } from './errors.ts';
import type {
  App,
  AuthState,
  ChatMessage,
  ChatSummary,
  ConnectionStatus,
  Contact,
  PhotoView,
  UpdateState,
} from './types.ts';

export interface RunningApp extends App {
  /** Opens the local store and connects; call once at start-up. */
  start(): Promise<void>;
}

const notYet = (): Promise<never> => Promise.reject(new AppError('unknown'));

export function createApp(): RunningApp {
  const auth = signal<AuthState>({ status: 'loading', username: null });
  const connection = signal<ConnectionStatus>('offline');
  const contacts = signal<readonly Contact[]>([]);
  const chats = signal<readonly ChatSummary[]>([]);
  const update = signal<UpdateState>({ available: false, offlineReady: false });
  const storagePersisted = signal<boolean | null>(null);
  const keyChanges = computed(() => contacts.value.filter((c) => c.keyChanged).map((c) => c.username));
  const messages = new Map<string, Signal<readonly ChatMessage[]>>();
  const photos = new Map<string, Signal<PhotoView>>();

  return {
    auth,
    connection,
    contacts,
    chats,
    keyChanges,
    language,
    update,
    storagePersisted,
    async start() {
      auth.value = { status: 'signed-out', username: null };
    },
    startRegistration: notYet,
    confirmRegistration: notYet,
    login: notYet,
    logout: notYet,
    logoutEverywhere: notYet,
    eraseDevice: notYet,
    addContact: notYet,
    removeContact: notYet,
    messagesFor(contact) {
      let s = messages.get(contact);
      if (!s) {
        s = signal<readonly ChatMessage[]>([]);
        messages.set(contact, s);
      }
      return s;
    },
    markRead() {},
    sendText: notYet,
    sendPhoto: notYet,
    cancelSend() {},
    retry: notYet,
    photo(messageId) {
      let s = photos.get(messageId);
      if (!s) {
        s = signal<PhotoView>({ status: 'idle', progress: 0, url: null });
        photos.set(messageId, s);
      }
      return s;
    },
    safetyNumber: notYet,
    compareScanned: notYet,
    markVerified: notYet,
    acknowledgeKeyChange: notYet,
    setLanguage,
    applyUpdate() {},
    dismissUpdate() {
      update.value = { ...update.value, available: false };
    },
  };
}
