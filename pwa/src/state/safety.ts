// Safety numbers for the UI over crypto-core (spec/protocol.md §11): the 60
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

export interface KeyChangeSafetyInput {
  readonly me: string;
  readonly mine: Uint8Array;
  readonly contact: string;
  /** The key this device trusted until the change (superseded). */
  readonly trusted: Uint8Array;
  /** The new key seen and not yet accepted. */
  readonly pending: Uint8Array;
}

/**
 * A scan during an unacknowledged key change (SECURITY.md, "Trust model"): the scanned QR is
 * compared with the safety number of the PENDING key — 'match' means the contact's device
 * holds the new key, and the caller accepts it. A QR that matches only the superseded key is
 * 'old-key': the contact's device still has the old key, so the new one is not theirs (or they
 * have not updated); nothing may be accepted and "match" is never shown for it.
 */
export function compareScannedDuringChange(input: KeyChangeSafetyInput, scanned: string): ScanResult {
  const { me, mine, contact } = input;
  const againstPending = compareScannedText({ me, mine, contact, theirs: input.pending }, scanned);
  if (againstPending !== 'mismatch') return againstPending;
  const againstOld = compareScannedText({ me, mine, contact, theirs: input.trusted }, scanned);
  return againstOld === 'match' ? 'old-key' : 'mismatch';
}
