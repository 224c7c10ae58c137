// The crypto-core calls that linked devices changed (spec/protocol.md §16, §8 content type
// 0x04 `sync`, sibling sessions), in one place: the session manager seals and opens through
// these, so the rest of the PWA does not depend on their exact crypto-core signatures.
import {
  acceptSession,
  encryptMessage,
  initiateSession,
  type SessionState,
} from '@secure-drop/crypto-core/session';

export type SealedType = 'text' | 'photo' | 'sync' | 'control';

/**
 * Starts a session from a bundle. `sibling`: the bundle is one of this account's own other
 * devices, whose identity key is ours (spec §16: crypto-core allows IK_B == own IK only then).
 */
export function startSession(
  identity: Parameters<typeof initiateSession>[0],
  bundle: Parameters<typeof initiateSession>[1],
  accounts: { initiator: string; responder: string },
  sibling: boolean,
): SessionState {
  const start = initiateSession as unknown as (
    i: typeof identity,
    b: typeof bundle,
    a: typeof accounts & { sibling?: boolean },
  ) => { session: SessionState };
  return start(identity, bundle, sibling ? { ...accounts, sibling: true } : accounts).session;
}

/** acceptSession, for a sibling device's initial message when `sibling`. */
export function acceptFrom(
  keys: Parameters<typeof acceptSession>[0],
  wire: Uint8Array,
  context: Parameters<typeof acceptSession>[2],
  sibling: boolean,
): ReturnType<typeof acceptSession> {
  const accept = acceptSession as unknown as (
    k: typeof keys,
    w: Uint8Array,
    c: typeof context & { sibling?: boolean },
  ) => ReturnType<typeof acceptSession>;
  return accept(keys, wire, sibling ? { ...context, sibling: true } : context);
}

/** Seals one framed message (§9.1) of `type` on `session`. */
export function sealOn(
  session: SessionState,
  type: SealedType,
  content: { body: Uint8Array; sentAt: number; order: number },
): Promise<{ session: SessionState; message: Uint8Array }> {
  const encrypt = encryptMessage as unknown as (
    s: SessionState,
    t: SealedType,
    c: typeof content,
  ) => Promise<{ session: SessionState; message: Uint8Array }>;
  return encrypt(session, type, content);
}

// ── sync body (spec §16): u8 version=0x01 ‖ u8 len ‖ peer (UTF-8) ‖ u8 inner type ‖ inner body ──

export const SYNC_VERSION = 0x01;
const INNER = { text: 0x01, photo: 0x02 } as const;
/** spec/openapi.yaml Username: the canonical form, the only one a sync copy may name. */
const USERNAME = /^[a-z0-9][a-z0-9_]{1,30}[a-z0-9]$/;
const MAX_PEER_BYTES = 32;

export interface SyncContent {
  readonly peer: string;
  readonly contentType: 'text' | 'photo';
  readonly body: Uint8Array;
}

/** The body of a sync copy: what was sent to `peer`. */
export function encodeSyncBody(sync: SyncContent): Uint8Array {
  const name = new TextEncoder().encode(sync.peer);
  if (!USERNAME.test(sync.peer)) throw new RangeError('bad peer name');
  const out = new Uint8Array(3 + name.length + sync.body.length);
  out[0] = SYNC_VERSION;
  out[1] = name.length;
  out.set(name, 2);
  out[2 + name.length] = INNER[sync.contentType];
  out.set(sync.body, 3 + name.length);
  return out;
}

/** Strict parse of a sync body; throws RangeError on anything malformed. */
export function decodeSyncBody(bytes: Uint8Array): SyncContent {
  if (bytes.length < 4 || bytes[0] !== SYNC_VERSION) throw new RangeError('bad sync version');
  const len = bytes[1] as number;
  if (len < 1 || len > MAX_PEER_BYTES || bytes.length < 3 + len) throw new RangeError('bad sync peer');
  const peer = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(2, 2 + len));
  if (!USERNAME.test(peer)) throw new RangeError('bad sync peer');
  const inner = bytes[2 + len];
  const contentType = inner === INNER.text ? 'text' : inner === INNER.photo ? 'photo' : null;
  if (!contentType) throw new RangeError('bad sync content type');
  return { peer, contentType, body: bytes.slice(3 + len) };
}
