// A small RFC 6238 reference (HMAC from node:crypto, dynamic truncation per RFC 4226 §5.3),
// independent of otplib, so tests check that the relay's otpauth parameters really produce
// the codes an authenticator app would show.
import { createHmac } from 'node:crypto';
import { ScureBase32Plugin } from 'otplib';

const base32 = new ScureBase32Plugin();

export function totpAt(secretBase32: string, timeMs: number, digits = 6, period = 30): string {
  const key = Buffer.from(base32.decode(secretBase32));
  return hotp(key, Math.floor(timeMs / 1000 / period), digits);
}

export function hotp(key: Uint8Array, counter: number, digits: number): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const offset = (mac[mac.length - 1] as number) & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}
