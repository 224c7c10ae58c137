import { useSignals } from '@preact/signals-react/runtime';
import { t } from '../i18n/i18n.ts';
import { useApp } from '../state/context.tsx';

/** A new version waits for the user's word: it never swaps in mid-session by itself. */
export function UpdateBanner() {
  useSignals();
  const app = useApp();
  if (!app.update.value.available) return null;
  return (
    <section className="banner banner-update" aria-label={t('update.label')}>
      <p>{t('update.available')}</p>
      <button type="button" className="button button-primary" onClick={() => app.applyUpdate()}>
        {t('update.apply')}
      </button>
      <button type="button" className="button" onClick={() => app.dismissUpdate()}>
        {t('update.later')}
      </button>
    </section>
  );
}
