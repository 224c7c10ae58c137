import { useMemo } from 'react';
import { qrPath } from './qr-path.ts';

interface Props {
  /** The text encoded in the symbol (an otpauth:// URI, a safety-number payload…). */
  value: string;
  /** What the code is, for screen readers. */
  label: string;
  className?: string;
}

/** A QR code drawn as SVG; scales to its CSS box with crisp edges (scannable from a screen). */
export function QrCode({ value, label, className }: Props) {
  const { size, d } = useMemo(() => qrPath(value), [value]);
  return (
    <svg
      className={className ? `qr ${className}` : 'qr'}
      viewBox={`0 0 ${size} ${size}`}
      role="img"
      aria-label={label}
      shapeRendering="crispEdges"
      data-qr-value={value}
    >
      <rect className="qr-bg" width={size} height={size} />
      <path className="qr-fg" d={d} />
    </svg>
  );
}
