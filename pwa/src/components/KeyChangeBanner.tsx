import { useSignals } from '@preact/signals-react/runtime';
import { useState } from 'react';
import { Link } from 'react-router';
import { contactPath } from '../state/contact-path.ts';
import { useApp, useT } from '../state/context.tsx';
import { errorText } from './error-text.ts';

/**
 * The contact's identity key changed (a new device, a reinstall — or someone in the middle).
 * Sending waits until the user accepts the new key. Verifying it (the safety screen shows the
 * NEW key's number) is offered first. A contact that was verified before the change cannot be
 * clicked through: accepting without a scan takes a deliberate second step, after which the
 * contact shows as not verified (SECURITY.md, "Trust model").
 */
export function KeyChangeBanner({ contact }: { contact: string }) {
  useSignals();
  const t = useT();
  const app = useApp();
  const info = app.contacts.value.find((c) => c.username === contact);
  const wasVerified = info?.verifiedBeforeChange ?? false;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const acknowledge = async (withoutVerifying: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await app.acknowledgeKeyChange(contact, withoutVerifying ? { withoutVerifying: true } : undefined);
    } catch (err) {
      setError(errorText(err, t));
    } finally {
      setBusy(false);
    }
  };
  const verifyLink = (
    <Link
      className={wasVerified ? 'button button-primary' : 'button'}
      to={contactPath(app.contacts.value, contact, 'safety')}
    >
      {wasVerified ? t('keyChange.verifyNew') : t('keyChange.compare')}
    </Link>
  );
  return (
    <section className="banner banner-warning" role="alert" aria-label={t('keyChange.title')}>
      <p>
        <strong>{t('keyChange.title')}</strong> {t('keyChange.explain', { contact })}
      </p>
      {wasVerified && <p>{t('keyChange.verifiedExplain', { contact })}</p>}
      {!wasVerified && (
        <div className="actions">
          {verifyLink}
          <button
            type="button"
            className="button button-primary"
            onClick={() => acknowledge(false)}
            disabled={busy}
          >
            {t('keyChange.acknowledge')}
          </button>
        </div>
      )}
      {wasVerified && !confirming && (
        <div className="actions">
          {verifyLink}
          <button type="button" className="button" onClick={() => setConfirming(true)}>
            {t('keyChange.acceptUnverified')}
          </button>
        </div>
      )}
      {wasVerified && confirming && (
        <div className="confirm">
          <p>{t('keyChange.confirmUnverified', { contact })}</p>
          <div className="actions">
            <button type="button" className="button" onClick={() => setConfirming(false)}>
              {t('keyChange.cancel')}
            </button>
            <button
              type="button"
              className="button button-danger"
              onClick={() => acknowledge(true)}
              disabled={busy}
            >
              {t('keyChange.confirmUnverifiedYes')}
            </button>
          </div>
        </div>
      )}
      {error && <p className="error">{error}</p>}
    </section>
  );
}
