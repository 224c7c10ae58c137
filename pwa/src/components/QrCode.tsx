import { useEffect, useState } from 'react';
import { type QrPath, qrPath } from './qr-path.ts';

interface Props {
  /** The text encoded in the symbol (an otpauth:// URI, a safety-number payload…). */
  value: string;
  /** What the code is, for screen readers. */
  label: string;
  className?: string;
}

/** A QR code drawn as SVG; scales to its CSS box with crisp edges (scannable from a screen). */
export function QrCode({ value, label, className }: Props) {
  const [path, setPath] = useState<QrPath | null>(null);
  useEffect(() => {
    let live = true;
    setPath(null);
    qrPath(value).then(
      (p) => live && setPath(p),
      () => undefined, // text too long for a QR symbol: nothing to draw (callers pass short payloads)
    );
    return () => {
      live = false;
    };
  }, [value]);
  // Until the encoder has loaded, a blank square of the same size keeps the layout still; the
  // image itself appears only once it is complete (so nothing scans or screenshots a blank).
  if (!path) return <div className={className ? `qr qr-placeholder ${className}` : 'qr qr-placeholder'} />;
  return (
    <svg
      className={className ? `qr ${className}` : 'qr'}
      viewBox={`0 0 ${path.size} ${path.size}`}
      role="img"
      aria-label={label}
      shapeRendering="crispEdges"
      data-qr-value={value}
    >
      <rect className="qr-bg" width={path.size} height={path.size} />
      <path className="qr-fg" d={path.d} />
    </svg>
  );
}
