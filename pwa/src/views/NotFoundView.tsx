import { useSignals } from '@preact/signals-react/runtime';
import { Link } from 'react-router';
import { t } from '../i18n/i18n.ts';
import { PublicPage } from './PublicPage.tsx';

export function NotFoundView() {
  useSignals();
  return (
    <PublicPage title={t('notFound.title')}>
      <p>{t('notFound.explain')}</p>
      <p>
        <Link to="/">{t('notFound.home')}</Link>
      </p>
    </PublicPage>
  );
}
