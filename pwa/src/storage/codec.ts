// Serialises stored values to bytes before encryption: JSON, with Uint8Array kept as
// {"$bytes": base64} so keys and ratchet state round-trip exactly.
import { base64 } from '@scure/base';

const BYTES = '$bytes';
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeValue(value: unknown): Uint8Array {
  const json = JSON.stringify(value, (_key, v: unknown) =>
    v instanceof Uint8Array ? { [BYTES]: base64.encode(v) } : v,
  );
  if (json === undefined) throw new TypeError('value is not serialisable');
  return encoder.encode(json);
}

export function decodeValue<T>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes), (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const b = (v as Record<string, unknown>)[BYTES];
      if (keys.length === 1 && typeof b === 'string') return base64.decode(b);
    }
    return v;
  }) as T;
}
