import { useApp, useT } from '../state/context.tsx';
import { useBannerAction } from './banner-action.ts';

/**
 * A chat with a user the account's block list names, blocked on another device: its history
 * stays here until the user deletes it, because the list is the relay's word and must not be
 * able to wipe a chat (SECURITY.md, "Blocking"). Unblock makes it a chat again.
 */
export function BlockedChatBanner({ contact }: { contact: string }) {
  const t = useT();
  const app = useApp();
  const { busy, error, act } = useBannerAction();
  return (
    <section className="banner banner-warning" aria-label={t('chatBlocked.title', { contact })}>
      <p>
        <strong>{t('chatBlocked.title', { contact })}</strong> {t('chatBlocked.explain', { contact })}
      </p>
      <div className="actions">
        <button
          type="button"
          className="button"
          disabled={busy}
          onClick={() => act(() => app.unblock(contact), false)}
        >
          {t('chatBlocked.unblock')}
        </button>
        <button
          type="button"
          className="button button-danger"
          disabled={busy}
          onClick={() => act(() => app.removeContact(contact), true)}
        >
          {t('chatBlocked.delete')}
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
