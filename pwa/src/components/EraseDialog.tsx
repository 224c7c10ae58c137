// The erase-this-device confirmation: a warning of what is lost and a typed word, so erasing
// is a deliberate act, not a stray tap. Used by Settings and by the unlock screen ("forgot").
import { useSignals } from '@preact/signals-react/runtime';
import { useId, useState } from 'react';
import { useT } from '../state/context.tsx';
import { Modal } from './Modal.tsx';

export function EraseDialog({
  onCancel,
  onConfirm,
  note,
}: {
  onCancel: () => void;
  onConfirm: () => void;
  /** Said first, before what is lost (why erasing is offered here). */
  note?: string;
}) {
  useSignals();
  const t = useT();
  const id = useId();
  const [typed, setTyped] = useState('');
  const word = t('erase.word');
  const ok = typed.trim().toLocaleLowerCase() === word.toLocaleLowerCase();
  return (
    <Modal label={t('erase.title')} onClose={onCancel}>
      <h2>{t('erase.title')}</h2>
      {note && <p>{note}</p>}
      <p>{t('erase.warning')}</p>
      <ul>
        <li>{t('erase.lossKeys')}</li>
        <li>{t('erase.lossHistory')}</li>
        <li>{t('erase.lossVerified')}</li>
      </ul>
      <div className="field">
        <label htmlFor={`${id}-w`}>{t('erase.typeWord', { word })}</label>
        <input id={`${id}-w`} autoComplete="off" value={typed} onChange={(e) => setTyped(e.target.value)} />
      </div>
      <div className="actions">
        <button type="button" className="button" onClick={onCancel}>
          {t('common.cancel')}
        </button>
        <button type="button" className="button button-danger" disabled={!ok} onClick={onConfirm}>
          {t('erase.confirm')}
        </button>
      </div>
    </Modal>
  );
}
