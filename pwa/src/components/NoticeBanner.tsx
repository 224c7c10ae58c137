import { useSignals } from '@preact/signals-react/runtime';
import { useApp, useT } from '../state/context.tsx';

/**
 * Something the user must be told once (AppNotice), shown on every signed-in screen until the
 * user dismisses it — e.g. that this device started over because its keys were of protocol
 * version 1. The notice is stored, so a reload before reading it does not lose it.
 */
export function NoticeBanner() {
  useSignals();
  const t = useT();
  const app = useApp();
  const notice = app.notice.value;
  if (!notice) return null;
  return (
    <section className="banner banner-warning" role="alert" aria-label={t('notice.label')}>
      <p>
        <strong>{t(`notice.${notice}.title`)}</strong>
      </p>
      <p>{t(`notice.${notice}.body`)}</p>
      <button type="button" className="button" onClick={() => app.dismissNotice()}>
        {t('notice.dismiss')}
      </button>
    </section>
  );
}
