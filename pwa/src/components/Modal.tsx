import { type ReactNode, useRef } from 'react';
import { useFocusTrap } from './focus-trap.ts';

interface Props {
  /** Accessible name of the dialog. */
  label: string;
  onClose: () => void;
  className?: string;
  children: ReactNode;
}

/**
 * A modal dialog: focus moves in and stays in, Escape closes, focus returns to the opener.
 * The backdrop is a sibling so a click outside closes without catching clicks inside.
 */
export function Modal({ label, onClose, className, children }: Props) {
  const ref = useRef<HTMLDivElement>(null);
  useFocusTrap(ref, onClose);
  return (
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
    </div>
  );
}
