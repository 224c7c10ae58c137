import { useSignals } from '@preact/signals-react/runtime';
import { useEffect, useId, useRef, useState } from 'react';
import { useT } from '../state/context.tsx';
import { CopyButton } from './CopyButton.tsx';
import { downloadText } from './download.ts';

interface Props {
  username: string;
  codes: readonly string[];
  /** Called once the user confirms they saved the codes; the codes are then gone for good. */
  onDone: () => void;
}

/** Shows the one-time recovery codes with copy and download, once. */
export function RecoveryCodes({ username, codes, onDone }: Props) {
  useSignals();
  const t = useT();
  const [saved, setSaved] = useState(false);
  const checkId = useId();
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => headingRef.current?.focus(), []);
  const text = `${t('recovery.fileHeader', { username })}\n\n${codes.join('\n')}\n`;

  return (
    <section className="card" aria-labelledby={`${checkId}-h`}>
      <h2 id={`${checkId}-h`} ref={headingRef} tabIndex={-1}>
        {t('recovery.title')}
      </h2>
      <p>{t('recovery.explain')}</p>
      <p className="hint">{t('recovery.once')}</p>
      <ul className="recovery-codes" aria-label={t('recovery.listLabel')}>
        {codes.map((c) => (
          <li key={c}>{c}</li>
        ))}
      </ul>
      <div className="actions">
        <CopyButton text={codes.join('\n')} label={t('recovery.copy')} />
        <button
          type="button"
          className="button"
          onClick={() => downloadText(`secure-drop-recovery-${username}.txt`, text)}
        >
          {t('recovery.download')}
        </button>
      </div>
      <label htmlFor={checkId} className="check-row">
        <input id={checkId} type="checkbox" checked={saved} onChange={(e) => setSaved(e.target.checked)} />
        {t('recovery.confirm')}
      </label>
      <button type="button" className="button button-primary" disabled={!saved} onClick={onDone}>
        {t('recovery.continue')}
      </button>
    </section>
  );
}
