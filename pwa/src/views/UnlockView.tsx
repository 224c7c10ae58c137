import { useSignals } from '@preact/signals-react/runtime';
import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import { useNavigate } from 'react-router';
import { Countdown, formatDuration } from '../components/Countdown.tsx';
import { EraseDialog } from '../components/EraseDialog.tsx';
import { errorCode, errorKey, retryAt } from '../components/error-text.ts';
import { LoginConflictDialog } from '../components/LoginConflictDialog.tsx';
import { useApp, useT } from '../state/context.tsx';
import type { AppErrorCode } from '../state/types.ts';
import { PublicPage } from './PublicPage.tsx';

type Failure = { code: AppErrorCode; until: number | null };

/**
 * The only screen of a locked app (SECURITY.md "What a user's device holds"): the passphrase,
 * a clear message and a growing wait after wrong ones, and — for a forgotten passphrase —
 * erasing this device after a warning. Rendered in place of whatever route was asked for, so
 * unlocking lands where the user was going.
 */
/** "Unlocking…" with a spinner: the key derivation runs in a worker, so it turns meanwhile. */
function Working() {
  const t = useT();
  return (
    <>
      <span className="spinner" aria-hidden="true" />
      {t('unlock.working')}
    </>
  );
}

export function UnlockView() {
  useSignals();
  const t = useT();
  const app = useApp();
  const navigate = useNavigate();
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [passphrase, setPassphrase] = useState('');
  const [failure, setFailure] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);
  const [forgot, setForgot] = useState(false);
  const waiting = failure?.until != null && failure.until > Date.now();
  const passkey = app.lock.value.kind === 'passkey';
  useEffect(() => input.current?.focus(), []);

  const withPasskey = async () => {
    setBusy(true);
    setFailure(null);
    try {
      await app.unlockWithPasskey();
    } catch (err) {
      setFailure({ code: errorCode(err), until: retryAt(err) });
      setBusy(false);
    }
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!passphrase) return;
    setBusy(true);
    setFailure(null);
    try {
      await app.unlock(passphrase);
    } catch (err) {
      setFailure({ code: errorCode(err), until: retryAt(err) });
      setPassphrase('');
      setBusy(false);
      input.current?.focus();
    }
  };

  return (
    <PublicPage title={t('view.unlock.title')}>
      <form className="card" onSubmit={submit} noValidate aria-labelledby={`${id}-h`} aria-busy={busy}>
        <h2 id={`${id}-h`}>{t('unlock.heading')}</h2>
        <p>{t('unlock.account', { username: app.auth.value.username ?? '' })}</p>
        <p className="hint">{passkey ? t('unlock.passkeyExplain') : t('unlock.explain')}</p>
        {passkey && (
          <button
            type="button"
            className="button button-primary"
            disabled={busy}
            onClick={() => void withPasskey()}
          >
            {busy ? <Working /> : t('unlock.withPasskey')}
          </button>
        )}
        <div className="field" hidden={passkey}>
          <label htmlFor={`${id}-p`}>{t('unlock.passphrase')}</label>
          <input
            id={`${id}-p`}
            ref={input}
            name="passphrase"
            type="password"
            autoComplete="current-password"
            value={passphrase}
            onChange={(e) => setPassphrase(e.target.value)}
            aria-describedby={failure ? `${id}-err` : undefined}
            aria-invalid={failure?.code === 'wrong_passphrase' ? true : undefined}
          />
        </div>
        <div id={`${id}-err`} role="alert">
          {failure && (
            <p className="error">
              {failure.code === 'cancelled' ? t('unlock.passkeyCancelled') : t(errorKey(failure.code))}
            </p>
          )}
        </div>
        {failure?.until && (
          <p className="hint">
            <Countdown
              until={failure.until}
              render={(s) =>
                s > 0 ? t('unlock.retryIn', { time: formatDuration(s) }) : t('unlock.tryAgainNow')
              }
              onDone={() => setFailure((f) => (f ? { ...f, until: null } : f))}
            />
          </p>
        )}
        <button
          type="submit"
          className="button button-primary"
          hidden={passkey}
          disabled={busy || waiting || !passphrase}
        >
          {busy ? <Working /> : t('unlock.submit')}
        </button>
        <button type="button" className="button-link" onClick={() => setForgot(true)} disabled={busy}>
          {t('unlock.forgot')}
        </button>
      </form>
      {forgot && (
        <EraseDialog
          note={t('unlock.forgotExplain')}
          onCancel={() => setForgot(false)}
          onConfirm={() => {
            setForgot(false);
            void app.eraseDevice().then(() => navigate('/register'));
          }}
        />
      )}
      <LoginConflictDialog />
    </PublicPage>
  );
}
