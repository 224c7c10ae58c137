// Opaque byte fields travel as standard base64 in JSON. Node's Buffer.from(…, 'base64') silently
// skips bad characters, so the text is matched strictly first (canonical padding, no whitespace).
import { z } from 'zod';

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A zod schema for base64 text decoding to 1..maxBytes bytes; the output is a Buffer. */
export function base64Bytes(maxBytes: number) {
  const maxChars = Math.ceil(maxBytes / 3) * 4;
  return z
    .string()
    .max(maxChars, `at most ${maxBytes} bytes`)
    .regex(B64, 'must be standard base64')
    .transform((s, ctx) => {
      const bytes = Buffer.from(s, 'base64');
      if (bytes.length === 0 || bytes.length > maxBytes) {
        ctx.addIssue({ code: 'custom', message: `must decode to 1..${maxBytes} bytes` });
        return z.NEVER;
      }
      return bytes;
    });
}
