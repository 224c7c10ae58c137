import { useT } from '../state/context.tsx';

interface Props {
  /** 0..1 */
  progress: number;
  label: string;
  onCancel?: () => void;
}

/** A labelled progress bar for a photo upload or download, with an optional cancel. */
export function Transfer({ progress, label, onCancel }: Props) {
  const t = useT();
  const percent = Math.round(Math.min(1, Math.max(0, progress)) * 100);
  return (
    <div className="transfer">
      <progress max={100} value={percent} aria-label={label} />
      <span className="hint">{t('photo.percent', { label, percent })}</span>
      {onCancel && (
        <button type="button" className="button" onClick={onCancel}>
          {t('photo.cancel')}
        </button>
      )}
    </div>
  );
}
