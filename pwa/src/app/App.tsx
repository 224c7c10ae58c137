// The root component: the app context around a client-side router (opening a chat never
// reloads the page).
import { useMemo } from 'react';
import { createBrowserRouter, Outlet, RouterProvider, useRouteError } from 'react-router';
import { AppProvider, useT } from '../state/context.tsx';
import type { App as AppModel } from '../state/types.ts';
import { routes } from './routes.tsx';

function Shell() {
  return (
    <main id="main">
      <Outlet />
    </main>
  );
}

/** At start-up, while the screen of the URL arrives, if it is one loaded on first visit (routes.tsx). */
function Loading() {
  const t = useT();
  return (
    <main id="main">
      <p role="status">{t('app.loading')}</p>
    </main>
  );
}

/**
 * A screen that could not be shown: its file refused (integrity/module-check.ts), or an error while
 * drawing it. The user's language, a way forward, and no error text or stack trace.
 */
function ScreenError() {
  const t = useT();
  // By name: the class lives with the check, in the page's entry only (integrity/checked-import.ts).
  const error = useRouteError();
  const refused = error instanceof Error && error.name === 'ModuleRefused';
  return (
    <main id="main">
      <h1>{t(refused ? 'app.screenRefused' : 'app.screenFailed')}</h1>
      {refused && <p>{t('app.screenRefusedExplain')}</p>}
      <button type="button" onClick={() => location.reload()}>
        {t('app.reload')}
      </button>
    </main>
  );
}

export function App({ app }: { app: AppModel }) {
  const router = useMemo(
    () =>
      createBrowserRouter([
        {
          element: <Shell />,
          hydrateFallbackElement: <Loading />,
          errorElement: <ScreenError />,
          children: routes,
        },
      ]),
    [],
  );
  return (
    <AppProvider app={app}>
      <RouterProvider router={router} />
    </AppProvider>
  );
}
