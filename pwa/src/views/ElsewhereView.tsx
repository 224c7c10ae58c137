import { useSignals } from '@preact/signals-react/runtime';
import { useId, useState } from 'react';
import { errorCode, errorKey } from '../components/error-text.ts';
import { useApp, useT } from '../state/context.tsx';
import type { AppErrorCode } from '../state/types.ts';
import { PublicPage } from './PublicPage.tsx';

/**
 * The screen of a tab whose account is open in another tab or window of this browser
 * (state/active-tab.ts): it holds nothing of the account until "Use here", which takes it from
 * the other tab. Rendered in place of whatever route was asked for, so the app opens there.
 */
export function ElsewhereView() {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<AppErrorCode | null>(null);

  const openHere = async () => {
    setBusy(true);
    setFailure(null);
    try {
      await app.openHere();
    } catch (err) {
      setFailure(errorCode(err));
    } finally {
      // Also when another tab took the account back meanwhile: this screen stays, usable.
      setBusy(false);
    }
  };

  return (
    <PublicPage title={t('view.elsewhere.title')}>
      <section className="card" aria-labelledby={`${id}-h`} aria-busy={busy}>
        <h2 id={`${id}-h`}>{t('elsewhere.heading')}</h2>
        <p>{t('unlock.account', { username: app.auth.value.username ?? '' })}</p>
        <p className="hint">{t('elsewhere.explain')}</p>
        <div role="alert">{failure && <p className="error">{t(errorKey(failure))}</p>}</div>
        <button
          type="button"
          className="button button-primary"
          disabled={busy}
          onClick={() => void openHere()}
        >
          {busy ? t('elsewhere.working') : t('elsewhere.openHere')}
        </button>
      </section>
    </PublicPage>
  );
}
