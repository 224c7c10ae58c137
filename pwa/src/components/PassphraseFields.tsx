// A new passphrase typed twice (registration, Settings). Bounds are checked by the state layer
// (storage/passphrase.ts); here only that the two entries agree.
import { useSignals } from '@preact/signals-react/runtime';
import { useId } from 'react';
import { useT } from '../state/context.tsx';

interface Props {
  label: string;
  value: string;
  repeat: string;
  onChange: (value: string, repeat: string) => void;
}

export function PassphraseFields({ label, value, repeat, onChange }: Props) {
  useSignals();
  const t = useT();
  const id = useId();
  return (
    <>
      <div className="field">
        <label htmlFor={`${id}-n`}>{label}</label>
        <input
          id={`${id}-n`}
          type="password"
          autoComplete="new-password"
          value={value}
          onChange={(e) => onChange(e.target.value, repeat)}
          aria-describedby={`${id}-hint`}
        />
        <p id={`${id}-hint`} className="hint">
          {t('passphrase.hint')}
        </p>
      </div>
      <div className="field">
        <label htmlFor={`${id}-r`}>{t('passphrase.repeat')}</label>
        <input
          id={`${id}-r`}
          type="password"
          autoComplete="new-password"
          value={repeat}
          onChange={(e) => onChange(value, e.target.value)}
        />
      </div>
    </>
  );
}
