// The route table. Views live in src/views/ (owned by the UI work); this file only maps
// paths to them, guards the signed-in area and sends a contact's URL to its canonical name
// (views/CanonicalContact.tsx).
import { useSignals } from '@preact/signals-react/runtime';
import { useRef } from 'react';
import { Navigate, Outlet, type RouteObject, useLocation } from 'react-router';
import { checkedImport } from '../integrity/checked-import.ts';
import { useApp, useT } from '../state/context.tsx';
import { ChatsView } from '../views/ChatsView.tsx';
import { ContactRoute } from '../views/contact-route.tsx';
import { ElsewhereView } from '../views/ElsewhereView.tsx';
import { LoginView } from '../views/LoginView.tsx';
import { NotFoundView } from '../views/NotFoundView.tsx';
import { UnlockView } from '../views/UnlockView.tsx';

/**
 * Renders its children only when signed in; a locked app shows only the unlock screen, and an
 * app open in another tab only says so, in place (the URL stays, so unlocking or "Use here"
 * lands there); otherwise sends the user to /login, which comes back here once signed in — when
 * it is the same account, if this area was showing one.
 */
function RequireAuth() {
  useSignals();
  const t = useT();
  const { auth, sessionEnded } = useApp();
  const location = useLocation();
  // The account this area last showed. When its session ends here (the relay ended it, another
  // tab logged out), the path it was on is its own, perhaps a contact's chat: on a shared
  // browser the next person to sign in is not sent there.
  const shown = useRef<string | null>(null);
  if (auth.value.status === 'signed-in') shown.current = auth.value.username;
  if (auth.value.status === 'loading') return <p role="status">{t('app.loading')}</p>;
  if (auth.value.status === 'locked') return <UnlockView />;
  if (auth.value.status === 'elsewhere') return <ElsewhereView />;
  if (auth.value.status !== 'signed-in') {
    // The user's own log-out (here, or in another tab) leaves no path to come back to: the next
    // login starts at the chats. A session the relay ended, or a signed-out visit, does.
    const own = shown.current !== null && sessionEnded.value === null;
    return (
      <Navigate
        to="/login"
        replace
        state={{ from: own ? null : location.pathname, user: shown.current } satisfies ReturnTo}
      />
    );
  }
  return <Outlet />;
}

/** Where a signed-out visit to the signed-in area was going, and whose it was (null: nobody's). */
interface ReturnTo {
  readonly from: string | null;
  readonly user: string | null;
}

/** A path of this app's own signed-in area: never another origin ("//host"), never a sign-in screen. */
const SIGNED_IN_PATH = /^\/(chats|contacts|settings|archives)(\/[^/]+)*$/;

function returnPath(state: unknown, username: string | null): string {
  const { from, user } = (state as Partial<ReturnTo> | null) ?? {};
  if (user && user !== username) return '/chats';
  return typeof from === 'string' && SIGNED_IN_PATH.test(from) ? from : '/chats';
}

/**
 * The sign-in screens redirect once signed in — to where a signed-out visit was going (a chat's
 * link), else the chats; a login into a locked store unlocks here.
 */
function SignedOutOnly() {
  useSignals();
  const t = useT();
  const { auth } = useApp();
  const location = useLocation();
  if (auth.value.status === 'loading') return <p role="status">{t('app.loading')}</p>;
  if (auth.value.status === 'locked') return <UnlockView />;
  if (auth.value.status === 'elsewhere') return <ElsewhereView />;
  if (auth.value.status === 'signed-in')
    return <Navigate to={returnPath(location.state, auth.value.username)} replace />;
  return <Outlet />;
}

/**
 * A screen loaded when first visited: the first paint (login, the chat list) does not wait for
 * a chat, the settings, the archive, the safety number or registration (pwa/BENCHMARKS.md:
 * initial JavaScript). index.html names each chunk with its integrity (build/integrity.ts), and
 * it is imported only as checked (integrity/module-check.ts).
 */
function view<K extends string>(
  load: () => Promise<Record<K, () => React.ReactNode>>,
  name: K,
): RouteObject['lazy'] {
  return async () => ({ Component: (await checkedImport(load))[name] });
}

export const routes: RouteObject[] = [
  { index: true, element: <Navigate to="/chats" replace /> },
  {
    element: <SignedOutOnly />,
    children: [
      { path: 'register', lazy: view(() => import('../views/RegisterView.tsx'), 'RegisterView') },
      { path: 'login', element: <LoginView /> },
    ],
  },
  {
    element: <RequireAuth />,
    children: [
      { path: 'chats', element: <ChatsView /> },
      {
        path: 'chats/:contact',
        element: <ContactRoute screen="chat" />,
        children: [{ index: true, lazy: view(() => import('../views/ChatView.tsx'), 'ChatView') }],
      },
      {
        path: 'contacts/:contact/safety',
        element: <ContactRoute screen="safety" />,
        children: [{ index: true, lazy: view(() => import('../views/SafetyView.tsx'), 'SafetyView') }],
      },
      { path: 'settings', lazy: view(() => import('../views/SettingsView.tsx'), 'SettingsView') },
      { path: 'archives/:archive', lazy: view(() => import('../views/ArchiveView.tsx'), 'ArchiveView') },
    ],
  },
  { path: '*', element: <NotFoundView /> },
];
