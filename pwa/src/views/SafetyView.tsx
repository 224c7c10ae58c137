import { useSignals } from '@preact/signals-react/runtime';
import { type ChangeEvent, useCallback, useEffect, useId, useState } from 'react';
import { Link } from 'react-router';
import { errorText } from '../components/error-text.ts';
import { GroupedCode } from '../components/GroupedCode.tsx';
import { VerifiedIcon } from '../components/icons.tsx';
import { KeyChangeBanner } from '../components/KeyChangeBanner.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { QrCode } from '../components/QrCode.tsx';
import { QrScanner } from '../components/QrScanner.tsx';
import { decodeQrFile } from '../components/qr-decode.ts';
import { contactPath } from '../state/contact-path.ts';
import { useApp, useT } from '../state/context.tsx';
import type { SafetyNumber, ScanResult } from '../state/types.ts';
import { useRouteContact } from './contact-route.tsx';
import { SignedInPage } from './SignedInPage.tsx';

/** 'kept': after an 'old-key' scan the user kept the old key and refused the new one. */
type Outcome = ScanResult | 'no-code' | 'kept';

/**
 * Safety number with one contact: the 60 digits in 12 groups of 5 and a QR code to show;
 * scanning the contact's code compares the two (spec/protocol.md §11). A match marks the
 * contact verified; a mismatch says so plainly. During an unacknowledged key change the number
 * and QR are those of the NEW key, labelled so; a matching scan accepts and verifies it, and a
 * code of the superseded key is named as the old key, which the user may then keep, refusing
 * the new one (SECURITY.md, "Trust model"). Scanning
 * uses the camera; a picture is possible behind a note that one sent over the chat proves
 * nothing.
 */
export function SafetyView() {
  return <SafetyScreen decodeFile={decodeQrFile} />;
}

/** The screen, with the image decoder as a parameter (tests feed it raw QR pixels). */
export function SafetyScreen({ decodeFile }: { decodeFile: (file: Blob) => Promise<string | null> }) {
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const contact = useRouteContact();
  const info = app.contacts.value.find((c) => c.username === contact);
  const [number, setNumber] = useState<SafetyNumber | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [scanning, setScanning] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [error, setError] = useState<string | null>(null);
  // The last match accepted a pending key (the screen then says so, not just "verified").
  const [matchedPending, setMatchedPending] = useState(false);
  // The code last scanned: an 'old-key' one is what keeping the old key is checked against.
  const [scannedText, setScannedText] = useState<string | null>(null);

  // Reload when the key changes or the verified mark moves: the number is derived from the keys.
  // A match can also change the trusted key with the mark already set (a refused key scanned).
  const keyChanged = info?.keyChanged ?? false;
  const verified = info?.verified ?? false;
  const [matches, setMatches] = useState(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: keyChanged/verified/matches re-derive the number
  useEffect(() => {
    let live = true;
    app.safetyNumber(contact).then(
      (n) => live && setNumber(n),
      (e) => live && setLoadError(errorText(e, t)),
    );
    return () => {
      live = false;
    };
  }, [app, contact, keyChanged, verified, matches]);

  const compare = useCallback(
    async (scanned: string | null) => {
      setScanning(false);
      setError(null);
      if (scanned === null) {
        setOutcome('no-code');
        return;
      }
      try {
        setMatchedPending(number?.pending ?? false);
        setScannedText(scanned);
        const result = await app.compareScanned(contact, scanned);
        setOutcome(result);
        if (result === 'match') setMatches((n) => n + 1);
      } catch (e) {
        setError(errorText(e, t));
      }
    },
    [app, contact, number, t],
  );

  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    e.target.value = '';
    if (!file) return;
    setOutcome(null);
    try {
      await compare(await decodeFile(file));
    } catch {
      setOutcome('no-code');
    }
  };

  const keepOld = async () => {
    if (scannedText === null) return;
    setError(null);
    try {
      const result = await app.refuseKeyChange(contact, scannedText);
      setOutcome(result === 'old-key' ? 'kept' : result);
    } catch (e) {
      setError(errorText(e, t));
    }
  };

  const unverify = async () => {
    setError(null);
    try {
      await app.markVerified(contact, false);
      setOutcome(null);
    } catch (e) {
      setError(errorText(e, t));
    }
  };

  return (
    <SignedInPage title={t('view.safety.title')}>
      {keyChanged && <KeyChangeBanner contact={contact} />}
      <div className="page page-narrow">
        <p>
          <Link to={contactPath(app.contacts.value, contact)}>{t('safety.backToChat', { contact })}</Link>
        </p>
        <PageHeading>{t('safety.heading', { contact })}</PageHeading>
        <p>{t('safety.explain', { contact })}</p>
        <p className={verified ? 'ok' : 'hint'}>
          {verified ? (
            <>
              <VerifiedIcon /> {t('safety.verifiedLong', { contact })}
            </>
          ) : (
            t('safety.notVerified', { contact })
          )}
        </p>
        {loadError && (
          <p className="error" role="alert">
            {loadError}
          </p>
        )}
        {number && (
          <section className="card" aria-labelledby={`${id}-num`}>
            <h2 id={`${id}-num`}>
              {number.pending ? t('safety.pendingTitle', { contact }) : t('safety.numberTitle')}
            </h2>
            {number.pending && <p className="hint warning-text">{t('safety.pendingExplain', { contact })}</p>}
            <GroupedCode
              value={number.digits}
              groupSize={5}
              label={t('safety.numberLabel')}
              className="safety-number"
            />
            <QrCode value={number.qrText} label={t('safety.qrLabel', { contact })} />
          </section>
        )}
        <section className="card" aria-labelledby={`${id}-scan`}>
          <h2 id={`${id}-scan`}>{t('safety.scanTitle')}</h2>
          <p className="hint">{t('safety.scanExplain', { contact })}</p>
          {scanning ? (
            <QrScanner onResult={compare} onClose={() => setScanning(false)} />
          ) : (
            <div className="actions">
              <button
                type="button"
                className="button button-primary"
                onClick={() => {
                  setOutcome(null);
                  setScanning(true);
                }}
              >
                {t('safety.scanCamera')}
              </button>
            </div>
          )}
          {!scanning && (
            <details className="file-option">
              <summary>{t('safety.fileOption')}</summary>
              <p className="hint">{t('safety.fileNote')}</p>
              <input
                id={`${id}-file`}
                type="file"
                accept="image/*"
                className="sr-only file-input"
                onChange={onFile}
              />
              <label className="button" htmlFor={`${id}-file`}>
                {t('safety.scanFile')}
              </label>
            </details>
          )}
          <div role="status" className="verify-result">
            {outcome === 'match' && (
              <p className="ok">
                <VerifiedIcon />{' '}
                {matchedPending ? t('safety.matchNew', { contact }) : t('safety.match', { contact })}
              </p>
            )}
            {outcome === 'old-key' && <p className="error">{t('safety.oldKey', { contact })}</p>}
            {outcome === 'kept' && (
              <p className="ok">
                <VerifiedIcon /> {t('safety.keptOld', { contact })}
              </p>
            )}
            {outcome === 'mismatch' && <p className="error">{t('safety.mismatch', { contact })}</p>}
            {outcome === 'invalid' && <p className="error">{t('safety.invalid')}</p>}
            {outcome === 'no-code' && <p className="error">{t('safety.noCode')}</p>}
            {error && <p className="error">{error}</p>}
          </div>
          {outcome === 'old-key' && (
            <button type="button" className="button button-primary" onClick={keepOld}>
              {t('safety.keepOld')}
            </button>
          )}
          {verified && (
            <button type="button" className="button" onClick={unverify}>
              {t('safety.unverify')}
            </button>
          )}
        </section>
      </div>
    </SignedInPage>
  );
}
