// Placeholder: pwa-ui replaces this view.
import { useSignals } from '@preact/signals-react/runtime';
import { t } from '../i18n/i18n.ts';

export function ChatsView() {
  useSignals();
  return <h1>{t('view.chats.title')}</h1>;
}
