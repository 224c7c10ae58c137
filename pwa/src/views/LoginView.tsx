// Placeholder: pwa-ui replaces this view.
import { useSignals } from '@preact/signals-react/runtime';
import { t } from '../i18n/i18n.ts';

export function LoginView() {
  useSignals();
  return <h1>{t('view.login.title')}</h1>;
}
