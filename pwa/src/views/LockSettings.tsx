import { useSignals } from '@preact/signals-react/runtime';
import { type FormEvent, useId, useState } from 'react';
import { errorText } from '../components/error-text.ts';
import { PassphraseFields } from '../components/PassphraseFields.tsx';
import { useApp, useT } from '../state/context.tsx';
import { IDLE_MINUTES } from '../state/idle-lock.ts';
import { passkeySupported } from '../storage/passkey.ts';

/**
 * Settings' app lock section: without a lock, what that means in plain words and a form to set
 * one; with one, the idle time, "Lock now", change and remove (both ask for the current
 * passphrase; neither re-encrypts the history, only its key is wrapped again).
 */
export function LockSettings() {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const lock = app.lock.value;
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const locked = lock.kind !== 'none';
  /** A passphrase lock is changed or removed with the current passphrase; a passkey asks itself. */
  const needsCurrent = lock.kind === 'passphrase';

  const run = async (action: () => Promise<void>, done: string) => {
    setBusy(true);
    setMessage(null);
    try {
      await action();
      setCurrent('');
      setNext('');
      setRepeat('');
      setMessage({ ok: true, text: done });
    } catch (e) {
      setMessage({ ok: false, text: errorText(e, t) });
    } finally {
      setBusy(false);
    }
  };

  const save = (e: FormEvent) => {
    e.preventDefault();
    if (next !== repeat) {
      setMessage({ ok: false, text: t('passphrase.mismatch') });
      return;
    }
    void run(() => app.setPassphrase(needsCurrent ? current : null, next), t('passphrase.saved'));
  };

  return (
    <section className="card settings-section" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>{t('settings.lock')}</h2>
      <p className={locked ? 'hint' : 'warning'}>
        {lock.kind === 'passkey'
          ? t('settings.lockPasskey')
          : lock.kind === 'passphrase'
            ? t('settings.lockOn')
            : t('settings.lockNone')}
      </p>
      {locked && (
        <>
          <div className="field">
            <label htmlFor={`${id}-idle`}>{t('settings.idle')}</label>
            <select
              id={`${id}-idle`}
              value={lock.idleMinutes}
              onChange={(e) => void app.setIdleMinutes(Number(e.target.value))}
            >
              {IDLE_MINUTES.map((m) => (
                <option key={m} value={m}>
                  {t('settings.idleMinutes', { count: m })}
                </option>
              ))}
            </select>
          </div>
          <div className="actions">
            <button type="button" className="button" onClick={() => void app.lockNow()}>
              {t('settings.lockNow')}
            </button>
          </div>
        </>
      )}
      <form
        onSubmit={save}
        noValidate
        aria-label={needsCurrent ? t('settings.changePassphrase') : t('settings.setPassphrase')}
      >
        {needsCurrent && (
          <div className="field">
            <label htmlFor={`${id}-cur`}>{t('passphrase.current')}</label>
            <input
              id={`${id}-cur`}
              type="password"
              autoComplete="current-password"
              value={current}
              onChange={(e) => setCurrent(e.target.value)}
            />
          </div>
        )}
        <PassphraseFields
          label={t('passphrase.new')}
          value={next}
          repeat={repeat}
          onChange={(v, r) => {
            setNext(v);
            setRepeat(r);
          }}
        />
        <div className="actions">
          <button
            type="submit"
            className="button button-primary"
            disabled={busy || !next || (needsCurrent && !current)}
          >
            {needsCurrent ? t('settings.changePassphrase') : t('settings.setPassphrase')}
          </button>
          {locked && (
            <button
              type="button"
              className="button button-danger"
              disabled={busy || (needsCurrent && !current)}
              onClick={() => void run(() => app.removePassphrase(current), t('passphrase.removed'))}
            >
              {t('settings.removePassphrase')}
            </button>
          )}
        </div>
        {/* Right under the buttons (on a phone the section runs past the screen): what they did. */}
        <div role="status">{message?.ok && <p>{message.text}</p>}</div>
        <div role="alert">{message && !message.ok && <p className="error">{message.text}</p>}</div>
        {locked && <p className="hint">{t('settings.removeExplain')}</p>}
        {!locked && <p className="hint">{t('settings.lockLaterNote')}</p>}
      </form>
      {lock.kind !== 'passkey' && passkeySupported() && (
        <div className="actions">
          <button
            type="button"
            className="button"
            disabled={busy || (needsCurrent && !current)}
            onClick={() =>
              void run(() => app.setPasskey(lock.kind === 'passphrase' ? current : null), t('passkey.saved'))
            }
          >
            {t('settings.usePasskey')}
          </button>
          <p className="hint">{t('settings.usePasskeyExplain')}</p>
        </div>
      )}
    </section>
  );
}
