import { useSignals } from '@preact/signals-react/runtime';
import { useMemo, useState } from 'react';
import { t } from '../i18n/i18n.ts';
import { useApp } from '../state/context.tsx';
import type { ChatMessage } from '../state/types.ts';
import { Modal } from './Modal.tsx';
import { Transfer } from './Transfer.tsx';

/** A photo in the chat: upload state (outgoing), download progress, thumbnail, full screen. */
export function PhotoMessage({ message }: { message: ChatMessage }) {
  useSignals();
  const app = useApp();
  const [open, setOpen] = useState(false);
  // photo() starts the download on first call and returns the same signal afterwards.
  const view = useMemo(() => app.photo(message.id), [app, message.id]);
  const photo = view.value;
  const alt =
    message.direction === 'in' ? t('photo.altFrom', { contact: message.contact }) : t('photo.altMine');
  const uploading =
    message.direction === 'out' && (message.state === 'sending' || message.state === 'queued');

  return (
    <div className="photo">
      {photo.status === 'ready' && photo.url ? (
        <button
          type="button"
          className="photo-thumb"
          onClick={() => setOpen(true)}
          aria-label={t('photo.open', { alt })}
        >
          <img src={photo.url} alt={alt} />
        </button>
      ) : photo.status === 'loading' ? (
        <Transfer progress={photo.progress} label={t('photo.downloading')} />
      ) : photo.status === 'failed' ? (
        <p className="error">{t('photo.downloadFailed')}</p>
      ) : (
        <p className="hint">{t('photo.placeholder')}</p>
      )}
      {uploading && message.progress !== undefined && (
        <Transfer
          progress={message.progress}
          label={t('photo.uploading')}
          onCancel={() => app.cancelSend(message.id)}
        />
      )}
      {open && photo.url && (
        <Modal label={alt} onClose={() => setOpen(false)} className="modal-photo">
          <img src={photo.url} alt={alt} />
          <div className="actions">
            <a
              className="button"
              href={photo.url}
              download={`secure-drop-${message.id}.${message.body.kind === 'photo' && message.body.photo.mime === 'image/png' ? 'png' : 'jpg'}`}
            >
              {t('photo.save')}
            </a>
            <button type="button" className="button" onClick={() => setOpen(false)}>
              {t('common.close')}
            </button>
          </div>
        </Modal>
      )}
    </div>
  );
}
