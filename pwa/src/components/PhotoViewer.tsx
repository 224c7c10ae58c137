import { type PointerEvent, useRef } from 'react';
import { useT } from '../state/context.tsx';
import { CloseIcon, SaveIcon } from './icons.tsx';
import { Modal } from './Modal.tsx';

/** A vertical drag at least this long (px) on the photo closes the viewer (swipe away). */
const SWIPE_CLOSE_PX = 80;
/** A pointer that moved less than this (px) between down and up was a tap. */
const TAP_PX = 10;

const isSwipe = (dx: number, dy: number) => Math.abs(dy) >= SWIPE_CLOSE_PX && Math.abs(dy) >= Math.abs(dx);
const isTap = (dx: number, dy: number) => Math.hypot(dx, dy) <= TAP_PX;

interface Props {
  url: string;
  alt: string;
  fileName: string;
  onClose: () => void;
}

/**
 * The full-screen photo viewer: a modal over the whole viewport (portal on <body>, see Modal),
 * Save and Close in a bar that never overlaps the photo, the photo letterboxed below it.
 * Escape, a click or tap beside the photo, or a vertical swipe closes it.
 */
export function PhotoViewer({ url, alt, fileName, onClose }: Props) {
  const t = useT();
  const start = useRef<{ x: number; y: number; id: number } | null>(null);
  const onPointerDown = (e: PointerEvent<HTMLDivElement>) => {
    if (e.isPrimary) start.current = { x: e.clientX, y: e.clientY, id: e.pointerId };
  };
  const onPointerUp = (e: PointerEvent<HTMLDivElement>) => {
    const s = start.current;
    start.current = null;
    if (!s || s.id !== e.pointerId) return;
    const dx = e.clientX - s.x;
    const dy = e.clientY - s.y;
    // A swipe closes; so does a tap beside the photo (on the stage itself, not the image).
    if (isSwipe(dx, dy) || (isTap(dx, dy) && e.target === e.currentTarget)) onClose();
  };
  return (
    <Modal label={alt} onClose={onClose} className="photo-viewer">
      <div className="photo-viewer-bar">
        <a className="button photo-viewer-button" href={url} download={fileName}>
          <SaveIcon />
          {t('photo.save')}
        </a>
        <button type="button" className="button photo-viewer-button" onClick={onClose}>
          <CloseIcon />
          {t('common.close')}
        </button>
      </div>
      <div
        className="photo-viewer-stage"
        onPointerDown={onPointerDown}
        onPointerUp={onPointerUp}
        onPointerCancel={() => {
          start.current = null;
        }}
      >
        <img src={url} alt={alt} draggable={false} />
      </div>
    </Modal>
  );
}
