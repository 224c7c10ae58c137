// Turns a QR symbol into one SVG path so it renders as markup React owns — no innerHTML and
// no inline style (the CSP forbids both). The `qrcode` package does the encoding; it is loaded
// on first use, since only the register and safety-number screens draw codes.

import { checkedImport } from '../integrity/checked-import.ts';

export interface QrPath {
  /** Side of the symbol in modules, including the quiet zone. */
  size: number;
  /** Path data: one unit square per dark module. */
  d: string;
}

/** The quiet zone the QR specification asks for around the symbol (ISO/IEC 18004 §6.3.8). */
const QUIET_ZONE = 4;

export async function qrPath(
  text: string,
  errorCorrectionLevel: 'L' | 'M' | 'Q' | 'H' = 'M',
): Promise<QrPath> {
  const { default: QRCode } = await checkedImport(() => import('qrcode'));
  const { modules } = QRCode.create(text, { errorCorrectionLevel });
  const n = modules.size;
  const parts: string[] = [];
  for (let y = 0; y < n; y++) {
    let x = 0;
    while (x < n) {
      if (!modules.get(y, x)) {
        x++;
        continue;
      }
      // Merge horizontal runs of dark modules into one rectangle: fewer path commands.
      let run = 1;
      while (x + run < n && modules.get(y, x + run)) run++;
      parts.push(`M${x + QUIET_ZONE} ${y + QUIET_ZONE}h${run}v1h-${run}z`);
      x += run;
    }
  }
  return { size: n + 2 * QUIET_ZONE, d: parts.join('') };
}
