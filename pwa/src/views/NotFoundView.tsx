// An address the app has no screen for. Signed in, it keeps the signed-in frame (navigation to
// the chats and settings, the connection state); otherwise the public one (language switch).
import { useSignals } from '@preact/signals-react/runtime';
import { Link } from 'react-router';
import { PageHeading } from '../components/PageHeading.tsx';
import { useApp, useT } from '../state/context.tsx';
import { PublicPage } from './PublicPage.tsx';
import { SignedInPage } from './SignedInPage.tsx';

export function NotFoundView() {
  useSignals();
  const t = useT();
  const { auth } = useApp();
  const body = (
    <>
      <p>{t('notFound.explain')}</p>
      <p>
        <Link to="/">{t('notFound.home')}</Link>
      </p>
    </>
  );
  if (auth.value.status !== 'signed-in') return <PublicPage title={t('notFound.title')}>{body}</PublicPage>;
  return (
    <SignedInPage title={t('notFound.title')}>
      <div className="page page-narrow">
        <PageHeading>{t('notFound.title')}</PageHeading>
        {body}
      </div>
    </SignedInPage>
  );
}
