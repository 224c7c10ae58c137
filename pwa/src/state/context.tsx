// Views get the app (signals + actions) through this context, so a view test can render a
// view against a real app instance built over test storage/transport.
import { createContext, type ReactNode, useContext } from 'react';
import { type Translate, translator } from '../i18n/i18n.ts';
import type { App } from './types.ts';

const AppContext = createContext<App | null>(null);

export function AppProvider({ app, children }: { app: App; children: ReactNode }) {
  return <AppContext.Provider value={app}>{children}</AppContext.Provider>;
}

export function useApp(): App {
  const app = useContext(AppContext);
  if (!app) throw new Error('useApp() outside <AppProvider>');
  return app;
}

/** The translator of the app's current language; reading it subscribes the view to a switch. */
export function useT(): Translate {
  return translator(useApp().language.value);
}
