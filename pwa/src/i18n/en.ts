// English strings: the reference dictionary. Every key here must exist in ru.ts (a type
// error otherwise, and src/i18n/i18n.test.ts checks it at run time too).
// Values are plain text with {name} placeholders, or plural forms chosen by Intl.PluralRules.
import type { Message } from './types.ts';

export const en = {
  'app.name': 'Secure Drop',
  'app.loading': 'Loading…',
  'nav.chats': 'Chats',
  'nav.settings': 'Settings',
  'nav.register': 'Create account',
  'nav.login': 'Log in',
  'language.label': 'Language',
  'language.en': 'English',
  'language.ru': 'Русский',
  'connection.online': 'Online',
  'connection.connecting': 'Connecting…',
  'connection.offline': 'Offline',
  'update.available': 'A new version of Secure Drop is ready.',
  'update.apply': 'Update now',
  'update.later': 'Later',
  'chats.unread': { one: '{count} unread message', other: '{count} unread messages' },
  'view.register.title': 'Create account',
  'view.login.title': 'Log in',
  'view.chats.title': 'Chats',
  'view.chat.title': 'Chat with {contact}',
  'view.safety.title': 'Safety number with {contact}',
  'view.settings.title': 'Settings',
  'error.unknown': 'Something went wrong. Please try again.',
  'error.network': 'No connection to the server.',
} as const satisfies Record<string, Message>;

export type MessageKey = keyof typeof en;
