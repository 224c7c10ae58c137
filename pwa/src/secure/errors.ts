// Errors of the secure layer that the app turns into user-facing states.

export type SecureErrorCode =
  /** The contact's identity key changed; the user must acknowledge before anything is sent. */
  | 'key_change_unacknowledged'
  /**
   * The contact was verified before its key changed: the new key must be verified by scan,
   * or accepted with the explicit "without verifying" step (SECURITY.md, "Trust model").
   */
  | 'verification_required'
  /** A ratchet message arrived for which no stored session works (lost state, or forged). */
  | 'no_session'
  /** Not a contact of this device. */
  | 'unknown_peer'
  /**
   * The account's block list names the contact (StoredPeer.blocked): nothing is sent to them
   * until the mark goes (spec/protocol.md §16.4).
   */
  | 'contact_blocked'
  /** A message this device already opened (a redelivery): safe to acknowledge again. */
  | 'duplicate'
  /** The message cannot be opened (tampered, malformed, or for another device of the account). */
  | 'undecryptable';

export class SecureError extends Error {
  constructor(
    readonly code: SecureErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SecureError';
  }
}
