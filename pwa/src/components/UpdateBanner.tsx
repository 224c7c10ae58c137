import { useSignals } from '@preact/signals-react/runtime';
import { useApp, useT } from '../state/context.tsx';

/** A new version waits for the user's word: it never swaps in mid-session by itself. An update
 *  whose files did not match its own manifest never installed (src/sw.ts): the user is told. */
export function UpdateBanner() {
  useSignals();
  const t = useT();
  const app = useApp();
  const refused = app.update.value.refused ?? [];
  if (refused.length > 0) {
    return (
      <section className="banner banner-update" aria-label={t('update.label')}>
        <p role="alert">{t('update.refused', { count: refused.length })}</p>
        <button type="button" className="button" onClick={() => app.dismissUpdate()}>
          {t('common.close')}
        </button>
      </section>
    );
  }
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
