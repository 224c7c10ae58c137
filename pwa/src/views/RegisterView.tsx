import { useSignals } from '@preact/signals-react/runtime';
import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { CopyButton } from '../components/CopyButton.tsx';
import { errorCode, errorText } from '../components/error-text.ts';
import { GroupedCode } from '../components/GroupedCode.tsx';
import { PassphraseFields } from '../components/PassphraseFields.tsx';
import { QrCode } from '../components/QrCode.tsx';
import { RecoveryCodes } from '../components/RecoveryCodes.tsx';
import { useApp, useT } from '../state/context.tsx';
import type { RegistrationStart } from '../state/types.ts';
import { PublicPage } from './PublicPage.tsx';
import { pendingRecoveryCodes } from './recovery.ts';
import {
  isReservedUsername,
  isValidUsername,
  normalizeUsername,
  USERNAME_MAX,
  USERNAME_MIN,
} from './username.ts';

/** TOTP codes are 6 digits (spec/openapi.yaml, /register/confirm). */
const CODE_RE = /^\d{6}$/;

function ChooseUsername({ onStarted }: { onStarted: (s: RegistrationStart) => void }) {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const username = normalizeUsername(name);
    if (!isValidUsername(username) || isReservedUsername(username)) {
      setError(t('error.invalid_username'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onStarted(await app.startRegistration(username));
    } catch (err) {
      setError(errorText(err, t));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card" onSubmit={submit} noValidate>
      <div className="field">
        <label htmlFor={`${id}-u`}>{t('register.username')}</label>
        <input
          id={`${id}-u`}
          name="username"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          maxLength={USERNAME_MAX}
          value={name}
          onChange={(e) => setName(e.target.value)}
          aria-describedby={`${id}-rules${error ? ` ${id}-err` : ''}`}
          aria-invalid={error ? true : undefined}
        />
        <p id={`${id}-rules`} className="hint">
          {t('register.rules', { min: USERNAME_MIN, max: USERNAME_MAX })}
        </p>
      </div>
      {error && (
        <p id={`${id}-err`} className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="button button-primary" disabled={busy}>
        {busy ? t('common.wait') : t('register.next')}
      </button>
    </form>
  );
}

function Enroll({ start, onRestart }: { start: RegistrationStart; onRestart: () => void }) {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const [code, setCode] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [repeat, setRepeat] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => headingRef.current?.focus(), []);
  const secret = start.secretGroups.length > 0 ? start.secretGroups.join('') : start.secret;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const c = code.replace(/\s+/g, '');
    if (!CODE_RE.test(c)) {
      setError(t('error.invalid_code'));
      return;
    }
    if (passphrase !== repeat) {
      setError(t('passphrase.mismatch'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const done = await app.confirmRegistration(c, passphrase || undefined);
      // Confirming signs in, so the route guard moves on to /chats, which shows these codes.
      pendingRecoveryCodes.value = done.recoveryCodes;
    } catch (err) {
      // A pending registration lapses after a while (spec/openapi.yaml /register): say so.
      setError(errorCode(err) === 'not_found' ? t('register.expired') : errorText(err, t));
      setBusy(false);
    }
  };

  return (
    // Inside PublicPage's page: its width and left edge, like the heading above it.
    <div className="stack">
      <section className="card" aria-labelledby={`${id}-qr-h`}>
        <h2 id={`${id}-qr-h`} ref={headingRef} tabIndex={-1}>
          {t('register.scanTitle')}
        </h2>
        <p>{t('register.scanExplain')}</p>
        <QrCode value={start.otpauthUri} label={t('register.qrLabel', { username: start.username })} />
        <p>
          <a href={start.otpauthUri} className="button">
            {t('register.openApp')}
          </a>
        </p>
      </section>
      <section className="card" aria-labelledby={`${id}-secret-h`}>
        <h2 id={`${id}-secret-h`}>{t('register.manualTitle')}</h2>
        <p className="hint">{t('register.manualExplain')}</p>
        <GroupedCode value={secret} groupSize={4} label={t('register.secretLabel')} className="totp-secret" />
        <div className="actions">
          <CopyButton text={secret} label={t('register.copySecret')} />
        </div>
      </section>
      <form className="card" onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor={`${id}-code`}>{t('register.firstCode')}</label>
          <input
            id={`${id}-code`}
            name="code"
            className="code-input"
            inputMode="numeric"
            autoComplete="one-time-code"
            maxLength={7}
            value={code}
            onChange={(e) => setCode(e.target.value)}
            aria-describedby={`${id}-code-hint${error ? ` ${id}-err` : ''}`}
            aria-invalid={error ? true : undefined}
          />
          <p id={`${id}-code-hint`} className="hint">
            {t('register.firstCodeHint')}
          </p>
        </div>
        <fieldset className="fieldset">
          <legend>{t('register.lockTitle')}</legend>
          <p className="hint">{t('register.lockExplain')}</p>
          <PassphraseFields
            label={t('register.passphrase')}
            value={passphrase}
            repeat={repeat}
            onChange={(v, r) => {
              setPassphrase(v);
              setRepeat(r);
            }}
          />
        </fieldset>
        {error && (
          <p id={`${id}-err`} className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? t('register.creatingKeys') : t('register.confirm')}
        </button>
        <button type="button" className="button-link" onClick={onRestart} disabled={busy}>
          {t('register.restart')}
        </button>
      </form>
    </div>
  );
}

/** Create an account: username → authenticator enrolment → first code → recovery codes. */
export function RegisterView() {
  useSignals();
  const t = useT();
  // Signed out (logged out, erased, or never confirmed): codes from an earlier registration go.
  useEffect(() => {
    pendingRecoveryCodes.value = null;
  }, []);
  const navigate = useNavigate();
  const app = useApp();
  // A registration this tab began before a reload goes on where it was (registration-draft.ts).
  const [start, setStart] = useState<RegistrationStart | null>(() => app.resumeRegistration());
  const codes = pendingRecoveryCodes.value;

  return (
    <PublicPage title={t('view.register.title')}>
      {codes && start ? (
        <RecoveryCodes
          username={start.username}
          codes={codes}
          onDone={() => {
            pendingRecoveryCodes.value = null;
            navigate('/chats');
          }}
        />
      ) : start ? (
        <Enroll
          start={start}
          onRestart={() => {
            app.abandonRegistration();
            setStart(null);
          }}
        />
      ) : (
        <>
          <ChooseUsername onStarted={setStart} />
          <p>
            {t('register.haveAccount')} <Link to="/login">{t('nav.login')}</Link>
          </p>
        </>
      )}
    </PublicPage>
  );
}
