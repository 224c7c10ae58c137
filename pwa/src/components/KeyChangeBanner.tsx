import { useSignals } from '@preact/signals-react/runtime';
import { useState } from 'react';
import { Link } from 'react-router';
import { t } from '../i18n/i18n.ts';
import { useApp } from '../state/context.tsx';
import { errorText } from './error-text.ts';

/**
 * The contact's identity key changed (a new device, a reinstall — or someone in the middle).
 * Sending waits until the user acknowledges; comparing safety numbers again is offered.
 */
export function KeyChangeBanner({ contact }: { contact: string }) {
  useSignals();
  const app = useApp();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const acknowledge = async () => {
    setBusy(true);
    setError(null);
    try {
      await app.acknowledgeKeyChange(contact);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="banner banner-warning" role="alert" aria-label={t('keyChange.title')}>
      <p>
        <strong>{t('keyChange.title')}</strong> {t('keyChange.explain', { contact })}
      </p>
      <div className="actions">
        <Link className="button" to={`/contacts/${encodeURIComponent(contact)}/safety`}>
          {t('keyChange.compare')}
        </Link>
        <button type="button" className="button button-primary" onClick={acknowledge} disabled={busy}>
          {t('keyChange.acknowledge')}
        </button>
      </div>
      {error && <p className="error">{error}</p>}
    </section>
  );
}
