// The QR code of the otpauth URI: a PNG data URL (for <img>) and an SVG document.
import QRCode from 'qrcode';

export async function qrCodes(uri: string): Promise<{ png: string; svg: string }> {
  const opts = { errorCorrectionLevel: 'M' as const, margin: 4 };
  const [png, svg] = await Promise.all([
    QRCode.toDataURL(uri, { ...opts, type: 'image/png', scale: 6 }),
    QRCode.toString(uri, { ...opts, type: 'svg' }),
  ]);
  return { png, svg };
}
