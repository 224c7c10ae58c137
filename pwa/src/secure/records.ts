// What the secure layer keeps in the encrypted Storage, and under which record names.
// In-memory crypto-core types (IdentityKeyPair, SessionState…) vs these Stored* shapes:
// sessions are kept in crypto-core's own versioned storage encoding (spec/protocol.md §7.7).
import type { IdentityKeyPair } from '@secure-drop/crypto-core/identity';
import type { OneTimePreKey, PqPreKey, SignedPreKey } from '@secure-drop/crypto-core/prekeys';
import type { ReplayRecord } from '@secure-drop/crypto-core/session';

export const RECORD = {
  /** The stored-format marker (STORE_FORMAT): what protocol version this device's state speaks. */
  format: 'format',
  identity: 'identity',
  prekeyState: 'prekeys',
  signedPreKey: (id: number) => `spk:${id}`,
  pqPreKey: (id: number) => `pqpk:${id}`,
  oneTimePreKey: (id: number) => `opk:${id}`,
  oneTimePreKeyPrefix: 'opk:',
  oneTimePqPreKey: (id: number) => `opqpk:${id}`,
  oneTimePqPreKeyPrefix: 'opqpk:',
  /**
   * One accepted initial message (spec/protocol.md §6.3): named by the signed
   * prekey it used — so the records of a deleted prekey go with it — and a random id, never
   * the base key itself (record names are stored in clear).
   */
  replay: (signedPreKeyId: number, id: string) => `replay:${signedPreKeyId}:${id}`,
  replayOf: (signedPreKeyId: number) => `replay:${signedPreKeyId}:`,
  replayPrefix: 'replay:',
  /** This device's id, as the relay gave it at its first POST /keys (RESUME, spec §16). */
  deviceId: 'device',
  /**
   * This device's resume secret (32 bytes), given by the relay with its id and sent on every
   * RESUME (spec §16.9). Older stores have none: the relay gives one at their next resume.
   */
  resumeSecret: 'device-resume',
  /**
   * The Double Ratchet sessions with one device of a contact (spec §16: sessions are per
   * (peer, device)). Keyed by the random chat id, never the username (record names are stored
   * in clear). `session(chatId)` alone is the layout before linked devices: device 1's.
   */
  session: (chatId: string, deviceId?: number) =>
    deviceId === undefined ? `session:${chatId}` : `session:${chatId}:${deviceId}`,
  sessionsOf: (chatId: string) => `session:${chatId}:`,
  /** Sessions with this account's own other devices ("sibling" sessions, spec §16). */
  ownSession: (deviceId: number) => `session:own:${deviceId}`,
  ownSessionPrefix: 'session:own:',
  /** This account's other devices as last learnt (the relay's lists, their messages). */
  ownDevices: 'owndevices',
  /**
   * The highest order (spec §9.1) a sync copy from another own device carried in a chat: the
   * next message sent from here is numbered after it (spec §16 "order with several devices").
   */
  syncedOrder: (chatId: string) => `syncorder:${chatId}`,
  /**
   * The usernames the account's block list named when this device last read it, with the blocks
   * and unblocks made here since (SessionManager.listedBlocked).
   */
  listedBlocked: 'listedblocked',
  peer: (chatId: string) => `peer:${chatId}`,
  peerPrefix: 'peer:',
} as const;

/**
 * The format of everything this device stores under the secure layer: 2 = protocol version 2
 * (spec/protocol.md). A store with keys but without this marker was written by version 1.
 */
export const STORE_FORMAT = 2;

export interface StoredIdentity {
  readonly username: string;
  readonly keyPair: IdentityKeyPair;
}

/** A range of prekey ids generated and stored, not yet accepted by the relay: [from, to). */
export interface PendingIds {
  readonly from: number;
  readonly to: number;
}

/** A replaced signed prekey pair (X25519 + last-resort ML-KEM) whose secrets are still held. */
interface RetiredPrekeys {
  readonly signedPreKeyId: number;
  readonly pqPreKeyId: number;
  /**
   * When the relay stopped handing it out (the successor's upload was accepted); null while
   * that upload has not succeeded — the grace period has not started yet.
   */
  readonly replacedAt: number | null;
}

export interface StoredPrekeyState {
  /**
   * False until the relay accepted this device's identity key: a device that started over
   * offline (version 1 state, store-format.ts) publishes it with the prekeys when it can.
   */
  readonly identityUploaded: boolean;
  /** The signed X25519 and last-resort ML-KEM prekeys in use (ids only grow). */
  readonly signedPreKeyId: number;
  readonly pqPreKeyId: number;
  /** When the current pair was generated (device clock, ms). */
  readonly rotatedAt: number;
  /** False until the relay accepted the current pair: uploaded again on the next run. */
  readonly uploaded: boolean;
  /** Older pairs, oldest first, whose secrets are deleted once their grace period is over. */
  readonly retired: readonly RetiredPrekeys[];
  /** Id of the next one-time X25519 / ML-KEM prekey to generate (ids are never reused). */
  readonly nextOneTimeId: number;
  readonly nextOneTimePqId: number;
  /** One-time prekeys stored but not yet accepted by the relay (uploaded again next run). */
  readonly pendingOneTime: PendingIds | null;
  readonly pendingOneTimePq: PendingIds | null;
}

export type StoredSignedPreKey = SignedPreKey;
export type StoredPqPreKey = PqPreKey;
export type StoredOneTimePreKey = OneTimePreKey;
/** A one-time ML-KEM-768 prekey: same shape as the signed one, its own signing context. */
export type StoredOneTimePqPreKey = PqPreKey;

/**
 * The durable record of one accepted initial message (spec/protocol.md §6.3): crypto-core's
 * replay record (base key, the prekey ids it used) and when this device accepted it.
 */
export interface StoredReplayRecord extends ReplayRecord {
  readonly acceptedAt: number;
}

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
  /**
   * The contact was verified when the pending key change was seen (SECURITY.md, "Trust
   * model"): the change cannot be accepted with one click — only by scanning the new key's
   * safety QR, or by the deliberate "accept without verifying".
   */
  readonly verifiedBeforeChange?: boolean;
  /** When this device learnt of the pending key change (device clock, ms). */
  readonly keyChangedAt?: number;
  /**
   * Identity keys the user refused for this contact — a scan of the contact's screen showed the
   * trusted key instead — newest first, at most MAX_REFUSED_KEYS. Under one
   * of them a first message is not opened and a lookup raises no key change again; only a scan
   * that matches one makes it trusted (SECURITY.md, "Trust model").
   */
  readonly refusedKeys?: readonly Uint8Array[];
  /**
   * A message request: this peer was created by a first message from someone the user has not
   * added. Its messages are acknowledged without a delivery receipt until the user accepts
   * (adds the contact), deletes or blocks it (SECURITY.md, "Trust model").
   */
  readonly request?: boolean;
  /**
   * The account's block list at the relay names this user, and this device did not block them
   * itself (another device did, or the relay says so): sending is off and messages from them
   * get no delivery receipt, but the chat and its history stay until the user deletes them
   * here. A list is the relay's word, so it never deletes anything (SECURITY.md, "Blocking").
   */
  readonly blocked?: boolean;
  /**
   * The order number of the last message sent to this contact (spec/protocol.md §9.1: a
   * per-conversation counter from 1). Stored with the session that sealed it.
   */
  readonly sentOrder?: number;
  /** The sender time given to that message: the next one never carries an earlier time. */
  readonly lastSentAt?: number;
  /**
   * The contact's devices this device seals for (spec §16 Sesame): learnt from bundles, the
   * relay's 409 stale_devices lists and messages that opened. Undefined in a store from before
   * linked devices (then device 1, whose sessions are kept under the old record name).
   */
  readonly devices?: readonly number[];
}

/** Identity keys remembered as refused per contact (StoredPeer.refusedKeys), newest first. */
export const MAX_REFUSED_KEYS = 4;

/**
 * Whether the key this device trusts for the contact (`identityKey`) was verified: during a
 * pending change `verified` is false, and `verifiedBeforeChange` says whether the trusted key
 * had been (SECURITY.md, "Trust model": a verified contact's change is not clicked through).
 */
export const trustedKeyVerified = (peer: StoredPeer): boolean =>
  peer.verified || (peer.keyChanged && peer.verifiedBeforeChange === true);
