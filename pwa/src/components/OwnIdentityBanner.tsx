import { useSignals } from '@preact/signals-react/runtime';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { useApp, useT } from '../state/context.tsx';
import { dateTimeLabel } from './dates.ts';
import { errorText } from './error-text.ts';

/**
 * This account's security key was replaced from another device (SECURITY.md, "Trust model"):
 * a prominent warning on every signed-in screen, kept until the user says it was them, with
 * "log out everywhere" and re-enrolling the authenticator one tap away.
 */
export function OwnIdentityBanner() {
  useSignals();
  const t = useT();
  const app = useApp();
  const navigate = useNavigate();
  const warning = app.ownIdentityWarning.value;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!warning) return null;
  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(errorText(err, t));
    } finally {
      setBusy(false);
    }
  };
  const time = dateTimeLabel(warning.at, app.language.value);
  return (
    <section className="banner banner-danger" role="alert" aria-label={t('ownKey.title')}>
      <p>
        <strong>{t('ownKey.title')}</strong> {t('ownKey.explain', { time })}
      </p>
      <div className="actions">
        <button
          type="button"
          className="button button-danger"
          disabled={busy}
          onClick={() => act(() => app.logoutEverywhere())}
        >
          {t('ownKey.logoutEverywhere')}
        </button>
        <button
          type="button"
          className="button"
          disabled={busy}
          onClick={() => navigate('/settings', { state: { open: 'reenrol' } })}
        >
          {t('ownKey.reenrol')}
        </button>
        <button
          type="button"
          className="button"
          disabled={busy}
          onClick={() => act(() => app.dismissOwnIdentityWarning())}
        >
          {t('ownKey.itWasMe')}
        </button>
      </div>
      {error && <p className="error">{error}</p>}
    </section>
  );
}
