// The root component: the app context around a client-side router (opening a chat never
// reloads the page).
import { useMemo } from 'react';
import { createBrowserRouter, Outlet, RouterProvider } from 'react-router';
import { AppProvider } from '../state/context.tsx';
import type { App as AppModel } from '../state/types.ts';
import { routes } from './routes.tsx';

function Shell() {
  return (
    <main id="main">
      <Outlet />
    </main>
  );
}

export function App({ app }: { app: AppModel }) {
  const router = useMemo(() => createBrowserRouter([{ element: <Shell />, children: routes }]), []);
  return (
    <AppProvider app={app}>
      <RouterProvider router={router} />
    </AppProvider>
  );
}
