import { type ReactNode, useEffect, useRef } from 'react';
import { createPortal } from 'react-dom';
import { useFocusTrap } from './focus-trap.ts';

interface Props {
  /** Accessible name of the dialog. */
  label: string;
  onClose: () => void;
  className?: string;
  children: ReactNode;
}

/**
 * The app's root element, made inert while a dialog is open so neither pointer, keyboard nor
 * assistive technology reaches what lies under it (WAI-ARIA APG, modal dialog pattern).
 */
function useInertApp(): void {
  useEffect(() => {
    const root = document.getElementById('root');
    if (!root || root.hasAttribute('inert')) return;
    root.setAttribute('inert', '');
    return () => root.removeAttribute('inert');
  }, []);
}

/**
 * A modal dialog: focus moves in and stays in, Escape closes, focus returns to the opener.
 * It is rendered in a portal on <body>: an ancestor with a transform (the virtualized message
 * list positions its rows with one) would otherwise become the containing block of
 * `position: fixed` (CSS Transforms 1 §2) and clip the dialog to its row.
 * The backdrop is a sibling so a click outside closes without catching clicks inside.
 */
export function Modal({ label, onClose, className, children }: Props) {
  const ref = useRef<HTMLDivElement>(null);
  // First: on close its clean-up lifts `inert` before the trap gives focus back to the opener.
  useInertApp();
  useFocusTrap(ref, onClose);
  return createPortal(
    <div className="modal-layer">
      <div className="modal-backdrop" onClick={onClose} aria-hidden="true" />
      <div
        ref={ref}
        className={className ? `modal ${className}` : 'modal'}
        role="dialog"
        aria-modal="true"
        aria-label={label}
        tabIndex={-1}
      >
        {children}
      </div>
    </div>,
    document.body,
  );
}
