// The root component: the app context around a client-side router (opening a chat never
// reloads the page).
import { useMemo } from 'react';
import { createBrowserRouter, Outlet, RouterProvider } from 'react-router';
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

export function App({ app }: { app: AppModel }) {
  const router = useMemo(
    () =>
      createBrowserRouter([{ element: <Shell />, hydrateFallbackElement: <Loading />, children: routes }]),
    [],
  );
  return (
    <AppProvider app={app}>
      <RouterProvider router={router} />
    </AppProvider>
  );
}
