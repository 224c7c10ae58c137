// Settings → blocked users: who this account has blocked (GET /blocks) and a way back. Blocking
// removes the chat, and the relay refuses to add a blocked user back as a contact
// (spec/openapi.yaml POST /contacts, 409 contact_blocked), so without this list a block made by
// mistake could never be undone.
import { useSignals } from '@preact/signals-react/runtime';
import { useId, useState } from 'react';
import { errorCode } from '../components/error-text.ts';
import { useApp, useT } from '../state/context.tsx';
import type { BlockedUser } from '../state/types.ts';
import { SettingsListRow } from './SettingsListRow.tsx';
import { useRelayList } from './use-relay-list.ts';

export function BlockedSettings() {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const { list, error, busy, act } = useRelayList(app.listBlocked);
  const date = (ms: number) => new Date(ms).toLocaleDateString(app.language.value);
  const [done, setDone] = useState<string | null>(null);
  const unblock = async (b: BlockedUser) => {
    setDone(null);
    // Not blocked any more (not_found): another device of the account unblocked them meanwhile.
    const gone = (err: unknown) => errorCode(err) === 'not_found';
    if (await act(() => app.unblock(b.username), gone)) setDone(b.username);
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
            <SettingsListRow
              key={b.username}
              title={<strong>{b.username}</strong>}
              detail={t('blocked.since', { date: date(b.blockedAt) })}
              action={{
                text: t('blocked.unblock'),
                actionLabel: t('blocked.unblockOf', { username: b.username }),
                disabled: busy,
                onClick: () => void unblock(b),
              }}
            />
          ))}
        </ul>
      )}
      {/* The pressed button leaves with its row: say what happened where focus cannot. */}
      <div role="status">{done && <p className="ok">{t('blocked.done', { username: done })}</p>}</div>
      <div role="alert">{error && <p className="error">{error}</p>}</div>
    </section>
  );
}
