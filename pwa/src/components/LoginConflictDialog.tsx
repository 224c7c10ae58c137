import { useSignals } from '@preact/signals-react/runtime';
import { useState } from 'react';
import { useApp, useT } from '../state/context.tsx';
import { errorText } from './error-text.ts';
import { Modal } from './Modal.tsx';

/**
 * A login on a device whose keys were replaced elsewhere: nothing is erased until the user
 * says so (SECURITY.md, "What a user's device holds"); the history can instead be kept as a
 * read-only archive. Closing the dialog cancels the login.
 */
export function LoginConflictDialog() {
  useSignals();
  const t = useT();
  const app = useApp();
  const conflict = app.loginConflict.value;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!conflict) return null;
  const answer = async (choice: 'erase' | 'archive' | 'cancel') => {
    setBusy(true);
    setError(null);
    try {
      await app.resolveLoginConflict(choice);
    } catch (err) {
      setError(errorText(err, t));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal label={t('loginConflict.title')} onClose={() => void answer('cancel')}>
      <h2>{t('loginConflict.title')}</h2>
      <p>{t('loginConflict.explain')}</p>
      <div role="alert">{error && <p className="error">{error}</p>}</div>
      <div className="actions">
        <button type="button" className="button" disabled={busy} onClick={() => answer('cancel')}>
          {t('loginConflict.cancel')}
        </button>
        <button
          type="button"
          className="button button-primary"
          disabled={busy}
          onClick={() => answer('archive')}
        >
          {t('loginConflict.archive')}
        </button>
        <button
          type="button"
          className="button button-danger"
          disabled={busy}
          onClick={() => answer('erase')}
        >
          {t('loginConflict.erase')}
        </button>
      </div>
    </Modal>
  );
}
