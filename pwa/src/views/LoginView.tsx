import { useSignals } from '@preact/signals-react/runtime';
import { type FormEvent, useEffect, useId, useState } from 'react';
import { Link } from 'react-router';
import { Countdown, formatDuration } from '../components/Countdown.tsx';
import { errorCode, errorKey, retryAt } from '../components/error-text.ts';
import { LinkThisDevice } from '../components/LinkThisDevice.tsx';
import { LoginConflictDialog } from '../components/LoginConflictDialog.tsx';
import { useApp, useT } from '../state/context.tsx';
import type { AppErrorCode } from '../state/types.ts';
import { PublicPage } from './PublicPage.tsx';
import { pendingRecoveryCodes } from './recovery.ts';
import { normalizeUsername } from './username.ts';

const TOTP_RE = /^\d{6}$/;
/** Recovery codes are letters and digits, possibly with dashes the user may type or not. */
const RECOVERY_RE = /^[A-Za-z0-9-]{8,40}$/;

type Failure = { code: AppErrorCode; until: number | null };

/** Log in with username + authenticator code, or a recovery code; then, on a new device, link it. */
export function LoginView() {
  useSignals();
  const t = useT();
  // Signed out (logged out, erased, or never confirmed): codes from an earlier registration go.
  useEffect(() => {
    pendingRecoveryCodes.value = null;
  }, []);
  const app = useApp();
  const id = useId();
  // A session the relay ended here: its name filled in, and why the user is here (below).
  const ended = app.sessionEnded.value;
  const [username, setUsername] = useState(ended ?? '');
  const [code, setCode] = useState('');
  const [recovery, setRecovery] = useState(false);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);
  const waiting = failure?.until != null && failure.until > Date.now();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const name = normalizeUsername(username);
    const c = code.replace(/\s+/g, '');
    if (!name) {
      setFailure({ code: 'invalid_username', until: null });
      return;
    }
    if (!(recovery ? RECOVERY_RE : TOTP_RE).test(c)) {
      setFailure({ code: 'invalid_code', until: null });
      return;
    }
    setBusy(true);
    setFailure(null);
    try {
      await app.login(name, c);
      // The route guard moves a signed-in user to the chats.
    } catch (err) {
      setFailure({ code: errorCode(err), until: retryAt(err) });
      setCode('');
    } finally {
      setBusy(false);
    }
  };

  let message: string | null = null;
  if (failure) {
    if (failure.code === 'invalid_code' && recovery) message = t('login.badRecovery');
    else message = t(errorKey(failure.code));
  }

  // Logged in, linking this device to another one of the account: the link code in place of the form.
  if (app.linking.value)
    return (
      <PublicPage title={t('view.link.title')}>
        <LinkThisDevice />
      </PublicPage>
    );

  return (
    <PublicPage title={t('view.login.title')}>
      {ended && (
        <p className="card warning-text" role="status">
          {t('login.sessionEnded', { username: ended })}
        </p>
      )}
      <form className="card" onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor={`${id}-u`}>{t('login.username')}</label>
          <input
            id={`${id}-u`}
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={`${id}-c`}>{recovery ? t('login.recoveryCode') : t('login.code')}</label>
          <input
            id={`${id}-c`}
            name="code"
            className="code-input"
            inputMode={recovery ? 'text' : 'numeric'}
            autoComplete={recovery ? 'off' : 'one-time-code'}
            autoCapitalize="none"
            spellCheck={false}
            value={code}
            onChange={(e) => setCode(e.target.value)}
            aria-describedby={`${id}-hint${failure ? ` ${id}-err` : ''}`}
            aria-invalid={
              failure?.code === 'invalid_code' || failure?.code === 'code_reused' ? true : undefined
            }
          />
          <p id={`${id}-hint`} className="hint">
            {recovery ? t('login.recoveryHint') : t('login.codeHint')}
          </p>
        </div>
        <button
          type="button"
          className="button-link"
          aria-pressed={recovery}
          onClick={() => {
            setRecovery(!recovery);
            setCode('');
          }}
        >
          {recovery ? t('login.useAuthenticator') : t('login.useRecovery')}
        </button>
        <div id={`${id}-err`} role="alert">
          {message && <p className="error">{message}</p>}
        </div>
        {failure && (failure.code === 'locked_out' || failure.code === 'rate_limited') && failure.until && (
          // Outside the alert region: a screen reader hears the lockout once, not every second.
          <p className="hint">
            <Countdown
              until={failure.until}
              render={(s) =>
                s > 0 ? t('login.retryIn', { time: formatDuration(s) }) : t('login.tryAgainNow')
              }
              onDone={() => setFailure(null)}
            />
          </p>
        )}
        <button type="submit" className="button button-primary" disabled={busy || waiting}>
          {busy ? t('common.wait') : t('login.submit')}
        </button>
      </form>
      <p>
        {t('login.noAccount')} <Link to="/register">{t('nav.register')}</Link>
      </p>
      <LoginConflictDialog />
    </PublicPage>
  );
}
