// Russian strings. Typed as Record<MessageKey, Message>: a key missing here (or one that en.ts
// does not have) is a type error.
import type { MessageKey } from './en.ts';
import type { Message } from './types.ts';

export const ru: Record<MessageKey, Message> = {
  'app.name': 'Secure Drop',
  'app.loading': 'Загрузка…',
  'nav.chats': 'Чаты',
  'nav.settings': 'Настройки',
  'nav.register': 'Создать аккаунт',
  'nav.login': 'Войти',
  'language.label': 'Язык',
  'language.en': 'English',
  'language.ru': 'Русский',
  'connection.online': 'В сети',
  'connection.connecting': 'Подключение…',
  'connection.offline': 'Нет сети',
  'update.available': 'Готова новая версия Secure Drop.',
  'update.apply': 'Обновить',
  'update.later': 'Позже',
  'chats.unread': {
    one: '{count} непрочитанное сообщение',
    few: '{count} непрочитанных сообщения',
    many: '{count} непрочитанных сообщений',
    other: '{count} непрочитанного сообщения',
  },
  'view.register.title': 'Создание аккаунта',
  'view.login.title': 'Вход',
  'view.chats.title': 'Чаты',
  'view.chat.title': 'Чат с {contact}',
  'view.safety.title': 'Код безопасности с {contact}',
  'view.settings.title': 'Настройки',
  'error.unknown': 'Что-то пошло не так. Попробуйте ещё раз.',
  'error.network': 'Нет связи с сервером.',
};
