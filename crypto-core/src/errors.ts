/**
 * The one error type crypto-core throws (spec/protocol.md §13). Every failure carries a
 * stable `code`; messages name what failed but never contain key material or plaintext.
 *
 * @example
 * try { await decryptMessage(session, envelope); }
 * catch (e) { if (e instanceof CryptoCoreError && e.code === 'DUPLICATE_MESSAGE') ignore(); }
 */
export type CryptoErrorCode =
  /** An argument has the wrong JavaScript type (e.g. a string where bytes are expected). */
  | 'BAD_TYPE'
  /** Bytes of the wrong length, or a number out of range. */
  | 'BAD_LENGTH'
  /** An encoding that does not parse: truncated, trailing bytes, unknown tag or field. */
  | 'BAD_FORMAT'
  /** A version byte this implementation does not speak. */
  | 'UNSUPPORTED_VERSION'
  /** A signature that does not verify under strict Ed25519 rules. */
  | 'BAD_SIGNATURE'
  /** A public key that is invalid, low-order, or gives an all-zero shared secret. */
  | 'BAD_KEY'
  /** An AEAD tag that does not verify: tampered, wrong key, wrong associated data. */
  | 'AUTH_FAILED'
  /** A message whose key was already used (replay or duplicate delivery). */
  | 'DUPLICATE_MESSAGE'
  /** A message this party sent, handed back to it (reflection). */
  | 'REFLECTED_MESSAGE'
  /** A message that would need more skipped keys than the limits allow. */
  | 'TOO_MANY_SKIPPED'
  /** A session offer that omits the post-quantum KEM or otherwise weakens the handshake. */
  | 'DOWNGRADE'
  /** An initial message that belongs to another session than the one given (start one with acceptSession). */
  | 'SESSION_MISMATCH'
  /** A one-time prekey or other single-use secret that is not (or no longer) held. */
  | 'UNKNOWN_PREKEY'
  /** A downloaded photo whose digest differs from the one its message carried. */
  | 'DIGEST_MISMATCH'
  /** A chunked ciphertext (spec/protocol.md §10.2) that ends early: no short final chunk. */
  | 'TRUNCATED'
  /** Two safety-number QR payloads of different versions: they cannot be compared. */
  | 'VERSION_MISMATCH'
  /** A state object that is inconsistent or was produced by an incompatible version. */
  | 'BAD_STATE'
  /**
   * A content type the session may not carry (spec/protocol.md §16.2): `sync` outside a
   * sibling session (a peer forging "sent by me"), or text/photo inside one.
   */
  | 'CONTENT_NOT_ALLOWED';

export class CryptoCoreError extends Error {
  override readonly name = 'CryptoCoreError';
  constructor(
    readonly code: CryptoErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Throws a {@link CryptoCoreError}; typed `never` so control flow narrows after it. */
export function fail(code: CryptoErrorCode, message: string): never {
  throw new CryptoCoreError(code, message);
}
