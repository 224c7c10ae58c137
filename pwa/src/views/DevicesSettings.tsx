// Settings → Linked devices (spec/protocol.md §16): the account's devices, removing one (another
// device takes a fresh second factor, as other sensitive actions do), and linking a new one by
// scanning the code it shows — the camera, or a picture behind a warning, since a link code
// someone else sent would hand them the account.
import { useSignals } from '@preact/signals-react/runtime';
import { type ChangeEvent, type FormEvent, type ReactNode, useCallback, useId, useState } from 'react';
import { Countdown, formatDuration } from '../components/Countdown.tsx';
import { clientLabel } from '../components/client-label.ts';
import { dateTimeLabel } from '../components/dates.ts';
import { errorCode, errorText } from '../components/error-text.ts';
import { Modal } from '../components/Modal.tsx';
import { QrScanner } from '../components/QrScanner.tsx';
import { decodeQrFile } from '../components/qr-decode.ts';
import type { MessageKey } from '../i18n/i18n.ts';
import { useApp, useT } from '../state/context.tsx';
import type { DeviceInfo, DeviceKind, LinkCandidateView } from '../state/types.ts';
import { SettingsListRow } from './SettingsListRow.tsx';
import { useRelayList } from './use-relay-list.ts';

const TOTP_RE = /^\d{6}$/;
const RECOVERY_RE = /^[A-Za-z0-9-]{8,40}$/;

const kindKey = (kind: DeviceKind) => `device.kind.${kind}` as MessageKey;

/** Remove a device: confirmation, then (for another device, when the relay asks) a code. */
function RemoveDeviceDialog({
  device,
  onClose,
  onRemoved,
}: {
  device: DeviceInfo;
  onClose: () => void;
  onRemoved: () => void;
}) {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const [needCode, setNeedCode] = useState(false);
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const title = t('devices.removeTitle', { name: clientLabel(device.name, t) });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const c = code.replace(/\s+/g, '');
    if (needCode && !(TOTP_RE.test(c) || RECOVERY_RE.test(c))) {
      setError(t('error.invalid_code'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await app.removeDevice(device.id, needCode ? c : undefined);
      onRemoved();
    } catch (err) {
      if (errorCode(err) === 'reauth_required' && !needCode) setNeedCode(true);
      else setError(errorText(err, t));
      setCode('');
      setBusy(false);
    }
  };
  return (
    <Modal label={title} onClose={onClose}>
      <h2>{title}</h2>
      <p>{device.current ? t('devices.removeSelfExplain') : t('devices.removeExplain')}</p>
      <form onSubmit={submit} noValidate className="stack">
        {needCode && (
          <div className="field">
            <label htmlFor={`${id}-c`}>{t('devices.removeCode')}</label>
            <p className="hint">{t('error.reauth_required')}</p>
            <input
              id={`${id}-c`}
              name="code"
              className="code-input"
              autoComplete="one-time-code"
              inputMode="numeric"
              autoCapitalize="none"
              spellCheck={false}
              value={code}
              onChange={(e) => setCode(e.target.value)}
              aria-invalid={error ? true : undefined}
            />
          </div>
        )}
        <div role="alert">{error && <p className="error">{error}</p>}</div>
        <div className="actions">
          <button type="button" className="button" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" className="button button-danger" disabled={busy}>
            {busy ? t('common.wait') : t('devices.removeConfirm')}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Scan the new device's code → what it says it is → confirm (with or without history) → sent. */
export function LinkDeviceDialog({
  onClose,
  decodeFile,
}: {
  onClose: () => void;
  decodeFile: (file: Blob) => Promise<string | null>;
}) {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const [scanning, setScanning] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [found, setFound] = useState<{ code: string; candidate: LinkCandidateView } | null>(null);
  const [history, setHistory] = useState(true);
  const [linked, setLinked] = useState<string | null>(null);
  const title = found && !linked ? t('devices.confirmTitle') : t('devices.linkTitle');

  const inspect = useCallback(
    async (code: string | null) => {
      setScanning(false);
      setError(null);
      if (code === null) {
        setError(t('safety.noCode'));
        return;
      }
      setBusy(true);
      try {
        setFound({ code, candidate: await app.inspectLinkCode(code) });
      } catch (err) {
        setError(errorText(err, t));
      } finally {
        setBusy(false);
      }
    },
    [app, t],
  );

  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    e.target.value = '';
    if (!file) return;
    try {
      await inspect(await decodeFile(file));
    } catch {
      await inspect(null);
    }
  };

  const confirm = async () => {
    if (!found) return;
    setBusy(true);
    setError(null);
    try {
      await app.approveLink(found.code, { history });
      setLinked(clientLabel(found.candidate.name, t));
    } catch (err) {
      setError(errorText(err, t));
      setFound(null);
    } finally {
      setBusy(false);
    }
  };

  let body: ReactNode;
  if (linked) {
    body = (
      <>
        <p role="status" className="ok">
          {t('devices.linked', { name: linked })}
        </p>
        <div className="actions">
          <button type="button" className="button button-primary" onClick={onClose}>
            {t('common.close')}
          </button>
        </div>
      </>
    );
  } else if (found) {
    const c = found.candidate;
    body = (
      <>
        <p>{t('devices.confirmExplain', { name: clientLabel(c.name, t), kind: t(kindKey(c.kind)) })}</p>
        <p className="hint">
          <Countdown
            until={c.expiresAt}
            render={(s) =>
              s > 0 ? t('devices.codeExpires', { time: formatDuration(s) }) : t('error.link_expired')
            }
          />
        </p>
        <label htmlFor={`${id}-h`} className="check-row">
          <input
            id={`${id}-h`}
            type="checkbox"
            checked={history}
            onChange={(e) => setHistory(e.target.checked)}
            aria-describedby={`${id}-hh`}
          />
          {t('devices.sendHistory')}
        </label>
        <p id={`${id}-hh`} className="hint">
          {t('devices.sendHistoryHint')}
        </p>
        <div role="alert">{error && <p className="error">{error}</p>}</div>
        <div className="actions">
          <button type="button" className="button" disabled={busy} onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="button" className="button button-primary" disabled={busy} onClick={confirm}>
            {busy ? t('common.wait') : t('devices.confirm')}
          </button>
        </div>
      </>
    );
  } else {
    body = (
      <>
        <p>{t('devices.linkExplain')}</p>
        {scanning ? (
          <QrScanner onResult={inspect} onClose={() => setScanning(false)} />
        ) : (
          <div className="actions">
            <button
              type="button"
              className="button button-primary"
              disabled={busy}
              onClick={() => {
                setError(null);
                setScanning(true);
              }}
            >
              {t('devices.scanCamera')}
            </button>
          </div>
        )}
        {!scanning && (
          <details className="file-option">
            <summary>{t('devices.fileOption')}</summary>
            <p className="hint warning-text">{t('devices.fileNote')}</p>
            <input
              id={`${id}-file`}
              type="file"
              accept="image/*"
              className="sr-only file-input"
              disabled={busy}
              onChange={onFile}
            />
            <label className="button" htmlFor={`${id}-file`}>
              {t('devices.scanFile')}
            </label>
          </details>
        )}
        <div role="status">{busy && <p className="hint">{t('devices.checking')}</p>}</div>
        <div role="alert">{error && <p className="error">{error}</p>}</div>
        <div className="actions">
          <button type="button" className="button" onClick={onClose}>
            {t('common.cancel')}
          </button>
        </div>
      </>
    );
  }
  return (
    <Modal label={title} onClose={onClose}>
      <h2>{title}</h2>
      {body}
    </Modal>
  );
}

/** The settings section: the device list and "Link a new device". */
export function DevicesSettings({
  decodeFile = decodeQrFile,
}: {
  decodeFile?: (file: Blob) => Promise<string | null>;
}) {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const { list, error, load } = useRelayList(app.listDevices);
  const [removing, setRemoving] = useState<DeviceInfo | null>(null);
  const [linking, setLinking] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const date = (ms: number) => dateTimeLabel(ms, app.language.value);
  return (
    <section className="card settings-section" aria-labelledby={`${id}-t`}>
      <h2 id={`${id}-t`}>{t('devices.title')}</h2>
      <p className="hint">{t('devices.explain')}</p>
      {list === null && !error && <p className="hint">{t('app.loading')}</p>}
      {list && (
        <ul className="session-list device-list" aria-label={t('devices.label')}>
          {list.map((d) => (
            <SettingsListRow
              key={d.id}
              title={
                <>
                  <strong>{clientLabel(d.name, t)}</strong> · {t(kindKey(d.kind))}
                  {d.current && <> — {t('devices.thisDevice')}</>}
                </>
              }
              detail={
                d.lastSeenAt === null
                  ? t('devices.datesNew', { created: date(d.createdAt) })
                  : t('devices.dates', { created: date(d.createdAt), seen: date(d.lastSeenAt) })
              }
              action={
                d.current
                  ? undefined
                  : {
                      text: t('devices.remove'),
                      actionLabel: t('devices.removeOf', { name: clientLabel(d.name, t) }),
                      onClick: () => {
                        setDone(null);
                        setRemoving(d);
                      },
                    }
              }
            />
          ))}
        </ul>
      )}
      <div role="status">{done && <p className="ok">{done}</p>}</div>
      <div role="alert">{error && <p className="error">{error}</p>}</div>
      <div className="actions">
        <button
          type="button"
          className="button button-primary"
          onClick={() => {
            setDone(null);
            setLinking(true);
          }}
        >
          {t('devices.link')}
        </button>
      </div>
      {removing && (
        <RemoveDeviceDialog
          device={removing}
          onClose={() => setRemoving(null)}
          onRemoved={() => {
            setDone(t('devices.removed', { name: clientLabel(removing.name, t) }));
            setRemoving(null);
            void load();
          }}
        />
      )}
      {linking && (
        <LinkDeviceDialog
          decodeFile={decodeFile}
          onClose={() => {
            setLinking(false);
            void load();
          }}
        />
      )}
    </section>
  );
}
