import { useSignals } from '@preact/signals-react/runtime';
import { type ReactNode, useEffect } from 'react';
import { LanguageSwitch } from '../components/LanguageSwitch.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { UpdateBanner } from '../components/UpdateBanner.tsx';
import { useT } from '../state/context.tsx';

/** Frame of the signed-out screens (register, log in): title, language switch, content. */
export function PublicPage({ title, children }: { title: string; children: ReactNode }) {
  useSignals();
  const t = useT();
  useEffect(() => {
    document.title = `${title} · ${t('app.name')}`;
  }, [title, t]);
  return (
    <div className="app">
      <UpdateBanner />
      <div className="app-header">
        <span className="brand">{t('app.name')}</span>
        <LanguageSwitch />
      </div>
      <div className="page page-narrow">
        <PageHeading>{title}</PageHeading>
        {children}
      </div>
    </div>
  );
}
