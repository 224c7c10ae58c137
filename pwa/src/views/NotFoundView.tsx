import { useSignals } from '@preact/signals-react/runtime';
import { Link } from 'react-router';
import { useT } from '../state/context.tsx';
import { PublicPage } from './PublicPage.tsx';

export function NotFoundView() {
  useSignals();
  const t = useT();
  return (
    <PublicPage title={t('notFound.title')}>
      <p>{t('notFound.explain')}</p>
      <p>
        <Link to="/">{t('notFound.home')}</Link>
      </p>
    </PublicPage>
  );
}
