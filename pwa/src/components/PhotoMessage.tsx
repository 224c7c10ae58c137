import { useSignals } from '@preact/signals-react/runtime';
import { useMemo, useState } from 'react';
import { useApp, useT } from '../state/context.tsx';
import type { ChatMessage } from '../state/types.ts';
import { errorKey } from './error-text.ts';
import { PhotoViewer } from './PhotoViewer.tsx';
import { Transfer } from './Transfer.tsx';

/** Tallest a photo is shown in the chat (rem); the full-screen viewer shows it whole. */
const THUMB_HEIGHT_REM = 16;
/** Box proportions are kept within these (width / height); the image is letterboxed inside. */
const MIN_RATIO = 0.5;
const MAX_RATIO = 3;
const FALLBACK_RATIO = 4 / 3;

/**
 * The proportions of a photo's box in the chat, from the width and height its (authenticated)
 * metadata states. The box has its final size before the image loads, so a photo arriving, or
 * decrypting after the chat opened, never changes the height of its row and the list stays
 * where it was (at the newest message, when the user was there).
 */
function photoRatio(width: number, height: number): number {
  if (!(width > 0 && height > 0)) return FALLBACK_RATIO;
  return Math.min(MAX_RATIO, Math.max(MIN_RATIO, width / height));
}

/** A photo in the chat: upload state (outgoing), download progress, thumbnail, full screen. */
export function PhotoMessage({ message }: { message: ChatMessage }) {
  useSignals();
  const t = useT();
  const app = useApp();
  const [open, setOpen] = useState(false);
  // photo() starts the download on first call and returns the same signal afterwards.
  const view = useMemo(() => app.photo(message.id), [app, message.id]);
  const photo = view.value;
  const info = message.body.kind === 'photo' ? message.body.photo : null;
  const ratio = photoRatio(info?.width ?? 0, info?.height ?? 0);
  const alt =
    message.direction === 'in' ? t('photo.altFrom', { contact: message.contact }) : t('photo.altMine');
  const uploading =
    message.direction === 'out' && (message.state === 'sending' || message.state === 'queued');

  return (
    <div className="photo">
      <div
        className="photo-box"
        // Set through the CSSOM (React's style prop), which the CSP allows; see MessageList.
        style={{ aspectRatio: `${ratio}`, width: `min(100%, ${(THUMB_HEIGHT_REM * ratio).toFixed(3)}rem)` }}
      >
        {photo.status === 'ready' && photo.url ? (
          <button
            type="button"
            className="photo-thumb"
            onClick={() => setOpen(true)}
            aria-label={t('photo.open', { alt })}
          >
            <img src={photo.url} alt={alt} width={info?.width} height={info?.height} />
          </button>
        ) : photo.status === 'loading' ? (
          <Transfer progress={photo.progress} label={t('photo.downloading')} />
        ) : photo.status === 'failed' ? (
          <p className="error">
            {t(photo.error === 'photo_mismatch' ? errorKey(photo.error) : 'photo.downloadFailed')}
          </p>
        ) : (
          <p className="hint">{t('photo.placeholder')}</p>
        )}
      </div>
      {uploading && message.progress !== undefined && (
        <Transfer
          progress={message.progress}
          label={t('photo.uploading')}
          onCancel={() => app.cancelSend(message.id)}
        />
      )}
      {open && photo.url && (
        <PhotoViewer
          url={photo.url}
          alt={alt}
          fileName={`secure-drop-${message.id}.${info?.mime === 'image/png' ? 'png' : 'jpg'}`}
          onClose={() => setOpen(false)}
        />
      )}
    </div>
  );
}
