// What the secure layer keeps in the encrypted Storage, and under which record names.
// In-memory crypto-core types (IdentityKeyPair, SessionState…) vs these Stored* shapes:
// sessions are kept in crypto-core's own versioned storage encoding (spec/protocol.md §7.7).
import type { IdentityKeyPair } from '@secure-drop/crypto-core/identity';
import type { OneTimePreKey, PqPreKey, SignedPreKey } from '@secure-drop/crypto-core/prekeys';

export const RECORD = {
  identity: 'identity',
  prekeyState: 'prekeys',
  signedPreKey: (id: number) => `spk:${id}`,
  pqPreKey: (id: number) => `pqpk:${id}`,
  oneTimePreKey: (id: number) => `opk:${id}`,
  oneTimePreKeyPrefix: 'opk:',
  /** Keyed by the random chat id, never the username (record names are stored in clear). */
  session: (chatId: string) => `session:${chatId}`,
  peer: (chatId: string) => `peer:${chatId}`,
  peerPrefix: 'peer:',
} as const;

export interface StoredIdentity {
  readonly username: string;
  readonly keyPair: IdentityKeyPair;
}

export interface StoredPrekeyState {
  readonly signedPreKeyId: number;
  readonly pqPreKeyId: number;
  /** Id of the next one-time prekey to generate (ids are never reused). */
  readonly nextOneTimeId: number;
}

export type StoredSignedPreKey = SignedPreKey;
export type StoredPqPreKey = PqPreKey;
export type StoredOneTimePreKey = OneTimePreKey;

/** What this device knows and trusts about one contact. */
export interface StoredPeer {
  readonly chatId: string;
  readonly username: string;
  readonly addedAt: number;
  /** The identity key this device trusts for the contact (first seen, or acknowledged). */
  readonly identityKey: Uint8Array | null;
  readonly verified: boolean;
  /** A different identity key was seen and not yet acknowledged: sending is blocked. */
  readonly keyChanged: boolean;
  /** The new identity key seen, pending acknowledgement. */
  readonly pendingIdentityKey: Uint8Array | null;
}

/** A session as stored: crypto-core's serialised bytes. */
export interface StoredSession {
  readonly bytes: Uint8Array;
}
