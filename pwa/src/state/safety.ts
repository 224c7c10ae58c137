// Safety numbers for the UI (issue #4 §6) over crypto-core (spec/protocol.md §11): the 60
// digits, and the QR payload as text. QR scanners hand back text (BarcodeDetector's rawValue,
// JS decoders), so the 65-byte payload travels base64-encoded inside the QR code.
import { base64 } from '@scure/base';
import { compareSafetyQr, computeSafetyNumber } from '@secure-drop/crypto-core/safety-number';
import type { ScanResult } from './types.ts';

export const SAFETY_QR_PREFIX = 'SDSN1:';

export interface SafetyInput {
  readonly me: string;
  readonly mine: Uint8Array;
  readonly contact: string;
  readonly theirs: Uint8Array;
}

export function safetyNumberOf(input: SafetyInput) {
  const n = computeSafetyNumber(
    { username: input.me, identityKey: input.mine },
    { username: input.contact, identityKey: input.theirs },
  );
  return {
    digits: n.digits,
    groups: n.groups,
    qrText: SAFETY_QR_PREFIX + base64.encode(n.qrPayload),
    raw: n,
  };
}

/** Compares scanned QR text with our number: 'invalid' when it is not a Secure Drop safety QR. */
export function compareScannedText(input: SafetyInput, scanned: string): ScanResult {
  const text = scanned.trim();
  if (!text.startsWith(SAFETY_QR_PREFIX)) return 'invalid';
  let payload: Uint8Array;
  try {
    payload = base64.decode(text.slice(SAFETY_QR_PREFIX.length));
  } catch {
    return 'invalid';
  }
  try {
    return compareSafetyQr(safetyNumberOf(input).raw, payload);
  } catch {
    return 'invalid'; // another version or not a payload at all
  }
}
