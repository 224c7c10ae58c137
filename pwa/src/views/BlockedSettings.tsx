// Settings → blocked users: who this account has blocked (GET /blocks) and a way back. Blocking
// removes the chat, so without this list a block made by mistake could never be undone, and a
// blocked user added back as a contact would still have everything they send dropped by the
// relay (spec/openapi.yaml POST /blocks).
import { useSignals } from '@preact/signals-react/runtime';
import { useId, useState } from 'react';
import { errorText } from '../components/error-text.ts';
import { useApp, useT } from '../state/context.tsx';
import type { BlockedUser } from '../state/types.ts';
import { useRelayList } from './use-relay-list.ts';

export function BlockedSettings() {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const { list, error, setError, load } = useRelayList(app.listBlocked);
  const [busy, setBusy] = useState<string | null>(null);
  const date = (ms: number) => new Date(ms).toLocaleDateString(app.language.value);
  const unblock = async (b: BlockedUser) => {
    setBusy(b.username);
    setError(null);
    try {
      await app.unblock(b.username);
      await load();
    } catch (err) {
      setError(errorText(err, t));
    } finally {
      setBusy(null);
    }
  };
  return (
    <section className="card settings-section" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>{t('blocked.title')}</h2>
      <p className="hint">{t('blocked.explain')}</p>
      {list === null && !error && <p className="hint">{t('app.loading')}</p>}
      {list?.length === 0 && <p>{t('blocked.none')}</p>}
      {list && list.length > 0 && (
        <ul className="session-list" aria-label={t('blocked.title')}>
          {list.map((b) => (
            <li key={b.username} className="session-item">
              <p>
                <strong>{b.username}</strong>
              </p>
              <p className="hint">{t('blocked.since', { date: date(b.blockedAt) })}</p>
              <button
                type="button"
                className="button"
                disabled={busy !== null}
                aria-label={t('blocked.unblockOf', { username: b.username })}
                onClick={() => unblock(b)}
              >
                {t('blocked.unblock')}
              </button>
            </li>
          ))}
        </ul>
      )}
      <div role="alert">{error && <p className="error">{error}</p>}</div>
    </section>
  );
}
