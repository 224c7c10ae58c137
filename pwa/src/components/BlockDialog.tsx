import { useSignals } from '@preact/signals-react/runtime';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { useApp, useT } from '../state/context.tsx';
import { errorText } from './error-text.ts';
import { Modal } from './Modal.tsx';

/**
 * Blocks an existing contact from its chat (the same action as a message request's Block):
 * the relay drops what they send from now on, and the chat leaves this device.
 */
export function BlockDialog({ contact, onClose }: { contact: string; onClose: () => void }) {
  useSignals();
  const t = useT();
  const app = useApp();
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const title = t('chat.blockTitle', { username: contact });
  const block = async () => {
    setBusy(true);
    setError(null);
    try {
      await app.blockContact(contact);
      navigate('/chats');
    } catch (err) {
      setError(errorText(err, t));
      setBusy(false);
    }
  };
  return (
    <Modal label={title} onClose={onClose}>
      <h2>{title}</h2>
      <p>{t('chat.blockExplain', { username: contact })}</p>
      <div role="alert">{error && <p className="error">{error}</p>}</div>
      <div className="actions">
        <button type="button" className="button" disabled={busy} onClick={onClose}>
          {t('common.cancel')}
        </button>
        <button type="button" className="button button-danger" disabled={busy} onClick={block}>
          {t('chat.block')}
        </button>
      </div>
    </Modal>
  );
}
