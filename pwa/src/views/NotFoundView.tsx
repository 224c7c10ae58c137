// Placeholder: pwa-ui replaces this view.
import { useSignals } from '@preact/signals-react/runtime';
import { t } from '../i18n/i18n.ts';

export function NotFoundView() {
  useSignals();
  return <h1>{t('error.unknown')}</h1>;
}
