import { useSignals } from '@preact/signals-react/runtime';
import { useState } from 'react';
import { useApp, useT } from '../state/context.tsx';
import { errorText } from './error-text.ts';
import { Modal } from './Modal.tsx';

type Choice = 'link' | 'erase' | 'archive' | 'cancel';

/**
 * A login where the account already has keys this device does not hold (spec/protocol.md §16):
 * a new device, or one whose keys were replaced elsewhere. Linking to another device of the
 * account is offered first — it changes nothing anyone sees. Starting over (new keys) warns
 * that contacts will see a key change; on a device holding history, nothing is erased until the
 * user says so, and the history can be kept read-only instead (SECURITY.md, "What a user's
 * device holds"). Closing the dialog cancels the login. While this device shows its link code
 * (LinkThisDevice) the dialog steps aside.
 */
export function LoginConflictDialog() {
  useSignals();
  const t = useT();
  const app = useApp();
  const conflict = app.loginConflict.value;
  const [busy, setBusy] = useState(false);
  const [confirmStartOver, setConfirmStartOver] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!conflict || app.linking.value) return null;
  const answer = async (choice: Choice) => {
    setBusy(true);
    setError(null);
    try {
      await app.resolveLoginConflict(choice);
      setConfirmStartOver(false);
    } catch (err) {
      setError(errorText(err, t));
    } finally {
      setBusy(false);
    }
  };
  const alert = <div role="alert">{error && <p className="error">{error}</p>}</div>;
  const link = (
    <button type="button" className="button button-primary" disabled={busy} onClick={() => answer('link')}>
      {t('link.link')}
    </button>
  );
  const cancel = (
    <button type="button" className="button" disabled={busy} onClick={() => answer('cancel')}>
      {conflict.localHistory ? t('loginConflict.cancel') : t('common.cancel')}
    </button>
  );

  if (conflict.localHistory) {
    const title = conflict.unlinked ? t('link.unlinkedTitle') : t('loginConflict.title');
    return (
      <Modal label={title} onClose={() => void answer('cancel')}>
        <h2>{title}</h2>
        <p>{conflict.unlinked ? t('link.unlinkedExplain') : t('loginConflict.explain')}</p>
        <p>{t('link.choiceHistory')}</p>
        {alert}
        <div className="actions">{link}</div>
        <p className="hint warning-text">{t('link.startOverExplain')}</p>
        <div className="actions">
          {cancel}
          <button type="button" className="button" disabled={busy} onClick={() => answer('archive')}>
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

  if (confirmStartOver) {
    return (
      <Modal label={t('link.startOverTitle')} onClose={() => setConfirmStartOver(false)}>
        <h2>{t('link.startOverTitle')}</h2>
        <p className="warning-text">{t('link.startOverWarning')}</p>
        {alert}
        <div className="actions">
          <button type="button" className="button" disabled={busy} onClick={() => setConfirmStartOver(false)}>
            {t('link.back')}
          </button>
          <button
            type="button"
            className="button button-danger"
            disabled={busy}
            onClick={() => answer('erase')}
          >
            {t('link.startOverConfirm')}
          </button>
        </div>
      </Modal>
    );
  }

  return (
    <Modal label={t('link.choiceTitle')} onClose={() => void answer('cancel')}>
      <h2>{t('link.choiceTitle')}</h2>
      <p>{t('link.choiceExplain')}</p>
      {alert}
      <div className="actions">{link}</div>
      <p className="hint">{t('link.startOverExplain')}</p>
      <div className="actions">
        {cancel}
        <button type="button" className="button" disabled={busy} onClick={() => setConfirmStartOver(true)}>
          {t('link.startOver')}
        </button>
      </div>
    </Modal>
  );
}
