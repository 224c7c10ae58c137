import { useSignals } from '@preact/signals-react/runtime';
import { useId, useState } from 'react';
import type { MessageKey } from '../i18n/i18n.ts';
import { useApp, useT } from '../state/context.tsx';
import { Countdown, formatDuration } from './Countdown.tsx';
import { clientLabel } from './client-label.ts';
import { errorKey, errorText } from './error-text.ts';
import { QrCode } from './QrCode.tsx';

/**
 * The new device's side of linking (spec/protocol.md §16): the link code as a QR for the other
 * device to scan, what this device will be called there, the time left, and what happens. On
 * expiry (or any failure) a new code is one tap away; "Back" returns to the link / start over
 * question.
 */
export function LinkThisDevice() {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const linking = app.linking.value;
  const [expired, setExpired] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!linking) return null;
  const failed = linking.status === 'failed' || expired;
  const newCode = async () => {
    setBusy(true);
    setError(null);
    try {
      await app.resolveLoginConflict('link');
      setExpired(false);
    } catch (err) {
      setError(errorText(err, t));
    } finally {
      setBusy(false);
    }
  };
  const kind = t(`device.kind.${linking.deviceKind}` as MessageKey);
  return (
    <section className="card link-device" aria-labelledby={`${id}-h`}>
      <p id={`${id}-h`}>{t('link.scanThis')}</p>
      {!failed && <QrCode value={linking.uri} label={t('link.qrLabel')} className="link-qr" />}
      <p className="hint">{t('link.thisDevice', { name: clientLabel(linking.deviceName, t), kind })}</p>
      <div role="status">
        {linking.status === 'waiting' && !expired && (
          <p>
            {t('link.waiting')}{' '}
            <Countdown
              until={linking.expiresAt}
              render={(s) => t('link.expiresIn', { time: formatDuration(s) })}
              onDone={() => setExpired(true)}
            />
          </p>
        )}
        {linking.status === 'linking' && <p>{t('link.importing')}</p>}
      </div>
      <div role="alert">
        {failed && (
          <p className="error">
            {linking.error && linking.error !== 'link_expired'
              ? t(errorKey(linking.error))
              : t('link.expired')}
          </p>
        )}
        {error && <p className="error">{error}</p>}
      </div>
      <div className="actions">
        <button type="button" className="button" disabled={busy} onClick={() => app.cancelLinking()}>
          {t('link.back')}
        </button>
        {failed && (
          <button type="button" className="button button-primary" disabled={busy} onClick={newCode}>
            {t('link.newCode')}
          </button>
        )}
      </div>
    </section>
  );
}
