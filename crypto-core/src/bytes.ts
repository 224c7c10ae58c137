/**
 * Byte helpers and the canonical reader/writer behind every wire and storage encoding
 * (spec/protocol.md §3: big-endian integers, explicit lengths, no trailing bytes).
 * Parsing is strict: a truncated, oversized or trailing-garbage input is BAD_FORMAT,
 * never a half-built object.
 */
import { fail } from './errors.js';

/** Checks that `value` is a Uint8Array (of `length` bytes when given); returns it typed. */
export function expectBytes(value: unknown, name: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) fail('BAD_TYPE', `${name} must be a Uint8Array`);
  if (length !== undefined && value.length !== length)
    fail('BAD_LENGTH', `${name} must be ${length} bytes, got ${value.length}`);
  return value;
}

/** Checks that `value` is an integer in [min, max]. */
export function expectInt(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) fail('BAD_TYPE', `${name} must be an integer`);
  if (value < min || value > max) fail('BAD_LENGTH', `${name} must be in [${min}, ${max}], got ${value}`);
  return value;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const encoder = new TextEncoder();
// ignoreBOM: a leading EF BB BF is kept as U+FEFF, not dropped, so decoding is one-to-one and
// a name or id with one never reads as the same string without it (spec §3: one encoding).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8 strictly: invalid sequences are BAD_FORMAT, not U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    return fail('BAD_FORMAT', 'invalid UTF-8');
  }
}

/** Overwrites secret bytes in place; best effort in a garbage-collected runtime. */
export function wipe(...secrets: (Uint8Array | undefined)[]): void {
  for (const s of secrets) s?.fill(0);
}

/** Appends fields in the canonical encoding of spec/protocol.md §3. */
export class ByteWriter {
  private readonly parts: Uint8Array[] = [];

  u8(n: number): this {
    this.parts.push(Uint8Array.of(expectInt(n, 'u8', 0, 0xff)));
    return this;
  }

  u16(n: number): this {
    expectInt(n, 'u16', 0, 0xffff);
    this.parts.push(Uint8Array.of(n >>> 8, n & 0xff));
    return this;
  }

  u32(n: number): this {
    expectInt(n, 'u32', 0, 0xffffffff);
    this.parts.push(Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff));
    return this;
  }

  /** Unsigned 64-bit big-endian from a safe integer (timestamps, sizes). */
  u64(n: number): this {
    expectInt(n, 'u64', 0, Number.MAX_SAFE_INTEGER);
    return this.u32(Math.floor(n / 0x1_0000_0000)).u32(n >>> 0);
  }

  /** Raw bytes of a length both sides know from the format. */
  fixed(bytes: Uint8Array, length: number, name = 'field'): this {
    this.parts.push(expectBytes(bytes, name, length));
    return this;
  }

  /** Bytes prefixed by their u16 length. */
  bytes16(bytes: Uint8Array, name = 'field'): this {
    expectBytes(bytes, name);
    this.u16(bytes.length);
    this.parts.push(bytes);
    return this;
  }

  /** Bytes prefixed by their u32 length. */
  bytes32(bytes: Uint8Array, name = 'field'): this {
    expectBytes(bytes, name);
    this.u32(bytes.length);
    this.parts.push(bytes);
    return this;
  }

  /** The rest of the encoding, unprefixed (only ever the last field). */
  rest(bytes: Uint8Array, name = 'field'): this {
    this.parts.push(expectBytes(bytes, name));
    return this;
  }

  finish(): Uint8Array {
    return concat(...this.parts);
  }
}

/** Reads fields in the canonical encoding; every read past the end is BAD_FORMAT. */
export class ByteReader {
  private at = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly what: string,
  ) {
    expectBytes(data, what);
  }

  get remaining(): number {
    return this.data.length - this.at;
  }

  private take(n: number, field: string): Uint8Array {
    if (n > this.remaining) fail('BAD_FORMAT', `${this.what}: truncated at ${field}`);
    const out = this.data.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  u8(field: string): number {
    return this.take(1, field)[0] as number;
  }

  u16(field: string): number {
    const b = this.take(2, field);
    return ((b[0] as number) << 8) | (b[1] as number);
  }

  u32(field: string): number {
    const b = this.take(4, field);
    return (
      ((b[0] as number) * 0x1000000 +
        (((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number))) >>>
      0
    );
  }

  u64(field: string): number {
    const hi = this.u32(field);
    const lo = this.u32(field);
    if (hi > 0x1fffff) fail('BAD_FORMAT', `${this.what}: ${field} exceeds 2^53`);
    return hi * 0x1_0000_0000 + lo;
  }

  /** A copy, so the result never aliases the input buffer. */
  fixed(n: number, field: string): Uint8Array {
    return this.take(n, field).slice();
  }

  bytes16(field: string, max = 0xffff): Uint8Array {
    const n = this.u16(field);
    if (n > max) fail('BAD_FORMAT', `${this.what}: ${field} longer than ${max} bytes`);
    return this.fixed(n, field);
  }

  bytes32(field: string, max: number): Uint8Array {
    const n = this.u32(field);
    if (n > max) fail('BAD_FORMAT', `${this.what}: ${field} longer than ${max} bytes`);
    return this.fixed(n, field);
  }

  rest(field: string): Uint8Array {
    return this.fixed(this.remaining, field);
  }

  /** Asserts the whole input was consumed: trailing bytes are BAD_FORMAT. */
  end(): void {
    if (this.remaining !== 0) fail('BAD_FORMAT', `${this.what}: ${this.remaining} trailing bytes`);
  }
}
