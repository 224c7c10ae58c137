import { useApp, useT } from '../state/context.tsx';
import { useBannerAction } from './banner-action.ts';

/**
 * A message request: someone the user has not added wrote first. Nothing is acknowledged with
 * a delivery receipt until the user accepts (SECURITY.md, "Trust model"); delete removes the
 * chat here, block also makes the relay drop what they send.
 */
export function MessageRequestBanner({ contact }: { contact: string }) {
  const t = useT();
  const app = useApp();
  const { busy, error, act } = useBannerAction();
  return (
    <section className="banner banner-warning" aria-label={t('request.title', { contact })}>
      <p>
        <strong>{t('request.title', { contact })}</strong> {t('request.explain', { contact })}
      </p>
      <div className="actions">
        <button
          type="button"
          className="button button-primary"
          disabled={busy}
          onClick={() => act(() => app.addContact(contact), false)}
        >
          {t('request.accept')}
        </button>
        <button
          type="button"
          className="button"
          disabled={busy}
          onClick={() => act(() => app.removeContact(contact), true)}
        >
          {t('request.delete')}
        </button>
        <button
          type="button"
          className="button button-danger"
          disabled={busy}
          onClick={() => act(() => app.blockContact(contact), true)}
        >
          {t('request.block')}
        </button>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
