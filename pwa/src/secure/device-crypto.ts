// The crypto-core calls that linked devices changed (spec/protocol.md §16, §8 content type
// 0x04 `sync`, sibling sessions), in one place: the session manager seals and opens through
// these. A sibling session — with another device of this same account — is named as such
// (accounts.sibling, both names the account's): crypto-core refuses our own identity key as a
// peer's otherwise, and carries only sync copies on it (CONTENT_NOT_ALLOWED).
import {
  acceptSession,
  type ContentType,
  encryptMessage,
  initiateSession,
  type SessionState,
} from '@secure-drop/crypto-core/session';

export {
  decodeSync as decodeSyncBody,
  encodeSync as encodeSyncBody,
  type SyncMessage as SyncContent,
} from '@secure-drop/crypto-core/sync';

/** Starts a session from a bundle; `sibling`: the bundle is one of this account's own devices. */
export function startSession(
  identity: Parameters<typeof initiateSession>[0],
  bundle: Parameters<typeof initiateSession>[1],
  accounts: { initiator: string; responder: string },
  sibling: boolean,
): SessionState {
  return initiateSession(identity, bundle, sibling ? { ...accounts, sibling: true } : accounts).session;
}

/** acceptSession, for a sibling device's initial message when `sibling`. */
export function acceptFrom(
  keys: Parameters<typeof acceptSession>[0],
  wire: Uint8Array,
  context: Parameters<typeof acceptSession>[2],
  sibling: boolean,
): ReturnType<typeof acceptSession> {
  return acceptSession(keys, wire, sibling ? { ...context, sibling: true } : context);
}

/** Seals one framed message (§9.1) of `type` on `session`. */
export function sealOn(
  session: SessionState,
  type: ContentType,
  content: { body: Uint8Array; sentAt: number; order: number },
): Promise<{ session: SessionState; message: Uint8Array }> {
  return encryptMessage(session, type, content);
}
