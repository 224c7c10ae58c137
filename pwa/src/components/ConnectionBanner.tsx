import { useSignals } from '@preact/signals-react/runtime';
import { useApp, useT } from '../state/context.tsx';

/** Says when the relay is unreachable; messages then wait in the outbox. */
export function ConnectionBanner() {
  useSignals();
  const t = useT();
  const status = useApp().connection.value;
  return (
    <div role="status" className={status === 'online' ? 'sr-only' : 'banner banner-offline'}>
      {status === 'offline' ? (
        <p>
          <span className="connection-dot" aria-hidden="true" />
          {t('connection.offline')} — {t('connection.offlineExplain')}
        </p>
      ) : status === 'connecting' ? (
        <p>
          <span className="connection-dot" aria-hidden="true" />
          {t('connection.connecting')}
        </p>
      ) : (
        t('connection.online')
      )}
    </div>
  );
}
