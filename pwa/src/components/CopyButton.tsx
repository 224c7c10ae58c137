import { useSignals } from '@preact/signals-react/runtime';
import { useEffect, useState } from 'react';
import { useT } from '../state/context.tsx';

interface Props {
  text: string;
  /** Button label; defaults to "Copy". */
  label?: string;
}

/** How long the "Copied" confirmation stays before the label returns. */
const CONFIRM_MS = 2000;

/** Copies `text` to the clipboard and says so in a polite live region. */
export function CopyButton({ text, label }: Props) {
  useSignals();
  const t = useT();
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const id = setTimeout(() => setState('idle'), CONFIRM_MS);
    return () => clearTimeout(id);
  }, [state]);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
  };

  return (
    <span className="copy">
      <button type="button" className="button" onClick={copy}>
        {label ?? t('common.copy')}
      </button>
      <span className="copy-status" role="status">
        {state === 'copied' ? t('common.copied') : state === 'failed' ? t('common.copyFailed') : ''}
      </span>
    </span>
  );
}
