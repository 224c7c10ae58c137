// Settings → the authenticator, recovery codes and sessions (SECURITY.md, "Trust model": a
// stolen authenticator can be revoked by re-enrolling; every other session then ends).
import { useSignals } from '@preact/signals-react/runtime';
import { type FormEvent, useId, useState } from 'react';
import { useLocation } from 'react-router';
import { CopyButton } from '../components/CopyButton.tsx';
import { clientLabel } from '../components/client-label.ts';
import { dateTimeLabel } from '../components/dates.ts';
import { errorText } from '../components/error-text.ts';
import { GroupedCode } from '../components/GroupedCode.tsx';
import { Modal } from '../components/Modal.tsx';
import { QrCode } from '../components/QrCode.tsx';
import { RecoveryCodes } from '../components/RecoveryCodes.tsx';
import { useApp, useT } from '../state/context.tsx';
import type { RegistrationStart } from '../state/types.ts';
import { SettingsListRow } from './SettingsListRow.tsx';
import { useRelayList } from './use-relay-list.ts';

const TOTP_RE = /^\d{6}$/;
const RECOVERY_RE = /^[A-Za-z0-9-]{8,40}$/;

/** A code field: the authenticator's 6 digits or (when `allowRecovery`) a recovery code. */
function CodeForm({
  label,
  allowRecovery,
  submitLabel,
  onSubmit,
  onCancel,
}: {
  label: string;
  allowRecovery: boolean;
  submitLabel: string;
  onSubmit: (code: string) => Promise<void>;
  onCancel: () => void;
}) {
  useSignals();
  const t = useT();
  const id = useId();
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const c = code.replace(/\s+/g, '');
    if (!(TOTP_RE.test(c) || (allowRecovery && RECOVERY_RE.test(c)))) {
      setError(t('error.invalid_code'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await onSubmit(c);
    } catch (err) {
      setError(errorText(err, t));
      setCode('');
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} noValidate className="stack">
      <div className="field">
        <label htmlFor={`${id}-c`}>{label}</label>
        <input
          id={`${id}-c`}
          name="code"
          className="code-input"
          autoComplete={allowRecovery ? 'off' : 'one-time-code'}
          autoCapitalize="none"
          spellCheck={false}
          value={code}
          onChange={(e) => setCode(e.target.value)}
          aria-describedby={error ? `${id}-err` : undefined}
          aria-invalid={error ? true : undefined}
        />
      </div>
      <div id={`${id}-err`} role="alert">
        {error && <p className="error">{error}</p>}
      </div>
      <div className="actions">
        <button type="button" className="button" onClick={onCancel}>
          {t('common.cancel')}
        </button>
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? t('common.wait') : submitLabel}
        </button>
      </div>
    </form>
  );
}

/** Current code → the new secret's QR → a code of the new secret → done. */
function ReenrolDialog({ onClose }: { onClose: () => void }) {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const [start, setStart] = useState<RegistrationStart | null>(null);
  const [done, setDone] = useState(false);
  const title = t('security.reenrolTitle');
  const secret = start ? start.secretGroups.join('') || start.secret : '';
  return (
    <Modal label={title} onClose={onClose}>
      <h2>{title}</h2>
      {done ? (
        <>
          <p role="status">{t('security.reenrolDone')}</p>
          <div className="actions">
            <button type="button" className="button button-primary" onClick={onClose}>
              {t('common.close')}
            </button>
          </div>
        </>
      ) : start ? (
        <>
          <p>{t('security.reenrolScan')}</p>
          <QrCode value={start.otpauthUri} label={t('register.qrLabel', { username: start.username })} />
          <p>
            <a href={start.otpauthUri} className="button">
              {t('register.openApp')}
            </a>
          </p>
          <p className="hint" id={`${id}-manual`}>
            {t('register.manualExplain')}
          </p>
          <GroupedCode
            value={secret}
            groupSize={4}
            label={t('register.secretLabel')}
            className="totp-secret"
          />
          <div className="actions">
            <CopyButton text={secret} label={t('register.copySecret')} />
          </div>
          <CodeForm
            label={t('security.newCode')}
            allowRecovery={false}
            submitLabel={t('security.reenrolConfirm')}
            onCancel={onClose}
            onSubmit={async (code) => {
              await app.confirmTotpReenroll(code);
              setDone(true);
            }}
          />
        </>
      ) : (
        <>
          <p>{t('security.reenrolExplain')}</p>
          <CodeForm
            label={t('security.currentCode')}
            allowRecovery
            submitLabel={t('security.continue')}
            onCancel={onClose}
            onSubmit={async (code) => setStart(await app.startTotpReenroll(code))}
          />
        </>
      )}
    </Modal>
  );
}

/** Current code → the new recovery codes, shown once. */
function NewRecoveryCodesDialog({ onClose }: { onClose: () => void }) {
  useSignals();
  const t = useT();
  const app = useApp();
  const [codes, setCodes] = useState<readonly string[] | null>(null);
  const title = t('security.recoveryTitle');
  return (
    <Modal label={title} onClose={codes ? () => undefined : onClose}>
      {codes ? (
        <RecoveryCodes username={app.auth.value.username ?? ''} codes={codes} onDone={onClose} />
      ) : (
        <>
          <h2>{title}</h2>
          <p>{t('security.recoveryExplain')}</p>
          <CodeForm
            label={t('security.currentCode')}
            allowRecovery
            submitLabel={t('security.recoveryGenerate')}
            onCancel={onClose}
            onSubmit={async (code) => setCodes((await app.regenerateRecoveryCodes(code)).recoveryCodes)}
          />
        </>
      )}
    </Modal>
  );
}

/** The account's live sessions; "End" on every other one. */
function SessionsList() {
  useSignals();
  const t = useT();
  const app = useApp();
  const { list, error, busy, act } = useRelayList(app.listSessions);
  const date = (ms: number) => dateTimeLabel(ms, app.language.value);
  return (
    <>
      {list === null && !error && <p className="hint">{t('app.loading')}</p>}
      {list && (
        <ul className="session-list" aria-label={t('security.sessionsLabel')}>
          {list.map((s) => (
            <SettingsListRow
              key={s.id}
              title={
                <>
                  <strong>{clientLabel(s.client, t)}</strong>
                  {s.current && <> — {t('security.thisDevice')}</>}
                </>
              }
              detail={t('security.sessionDates', { created: date(s.createdAt), used: date(s.lastUsedAt) })}
              action={
                s.current
                  ? undefined
                  : {
                      text: t('security.endSession'),
                      actionLabel: t('security.endSessionOf', { client: clientLabel(s.client, t) }),
                      disabled: busy,
                      onClick: () => void act(() => app.endOtherSession(s.id)),
                    }
              }
            />
          ))}
        </ul>
      )}
      <div role="alert">{error && <p className="error">{error}</p>}</div>
    </>
  );
}

/** The settings sections: authenticator, recovery codes, sessions. */
export function AccountSecurity() {
  useSignals();
  const t = useT();
  const id = useId();
  const location = useLocation();
  const asked = (location.state as { open?: string } | null)?.open;
  const [dialog, setDialog] = useState<'reenrol' | 'recovery' | null>(asked === 'reenrol' ? 'reenrol' : null);
  // Both actions end every other session: the list is read again once a dialog closes.
  const [generation, setGeneration] = useState(0);
  const close = () => {
    setDialog(null);
    setGeneration((g) => g + 1);
  };
  return (
    <>
      <section className="card settings-section" aria-labelledby={`${id}-auth`}>
        <h2 id={`${id}-auth`}>{t('security.title')}</h2>
        <div className="actions">
          <button type="button" className="button" onClick={() => setDialog('reenrol')}>
            {t('security.reenrol')}
          </button>
        </div>
        <p className="hint">{t('security.reenrolHint')}</p>
        <div className="actions">
          <button type="button" className="button" onClick={() => setDialog('recovery')}>
            {t('security.recovery')}
          </button>
        </div>
        <p className="hint">{t('security.recoveryHint')}</p>
      </section>
      <section className="card settings-section" aria-labelledby={`${id}-dev`}>
        <h2 id={`${id}-dev`}>{t('security.sessionsTitle')}</h2>
        <SessionsList key={generation} />
      </section>
      {dialog === 'reenrol' && <ReenrolDialog onClose={close} />}
      {dialog === 'recovery' && <NewRecoveryCodesDialog onClose={close} />}
    </>
  );
}
