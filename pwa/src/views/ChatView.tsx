// Placeholder: pwa-ui replaces this view.
import { useSignals } from '@preact/signals-react/runtime';
import { useParams } from 'react-router';
import { t } from '../i18n/i18n.ts';

export function ChatView() {
  useSignals();
  const { contact = '' } = useParams();
  return <h1>{t('view.chat.title', { contact })}</h1>;
}
