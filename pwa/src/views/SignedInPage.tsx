import { useSignals } from '@preact/signals-react/runtime';
import { type ReactNode, useEffect } from 'react';
import { NavLink } from 'react-router';
import { ConnectionBanner } from '../components/ConnectionBanner.tsx';
import { NoticeBanner } from '../components/NoticeBanner.tsx';
import { OwnIdentityBanner } from '../components/OwnIdentityBanner.tsx';
import { UpdateBanner } from '../components/UpdateBanner.tsx';
import { useT } from '../state/context.tsx';

interface Props {
  /** Document title (the page's own heading is rendered by the view). */
  title: string;
  /** Hide the top navigation (the chat screen has its own header with a back link). */
  bare?: boolean;
  children: ReactNode;
}

/** Frame of the signed-in screens: navigation, update prompt, connection state, content. */
export function SignedInPage({ title, bare = false, children }: Props) {
  useSignals();
  const t = useT();
  useEffect(() => {
    document.title = `${title} · ${t('app.name')}`;
  }, [title, t]);
  return (
    <div className="app">
      <UpdateBanner />
      <OwnIdentityBanner />
      <NoticeBanner />
      {!bare && (
        <div className="app-header">
          <span className="brand">{t('app.name')}</span>
          <nav aria-label={t('nav.label')}>
            <ul>
              <li>
                <NavLink to="/chats" end>
                  {t('nav.chats')}
                </NavLink>
              </li>
              <li>
                <NavLink to="/settings">{t('nav.settings')}</NavLink>
              </li>
            </ul>
          </nav>
        </div>
      )}
      <ConnectionBanner />
      {children}
    </div>
  );
}
