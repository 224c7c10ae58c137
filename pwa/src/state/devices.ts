// Linking a device to the account and the device list (spec/protocol.md §16 "Devices",
// Signal's provisioning adapted — /work DEVICES-DESIGN "LINKING"):
//  - the NEW device opens a provisioning address with its ephemeral X25519 and ML-KEM-768
//    public keys, shows the link URI as a QR, and polls for the sealed payload (every 2 s, until
//    the address expires); it opens it, checks it is this account's identity key, uploads its own
//    prekeys as a new device and imports the contacts and the history;
//  - the EXISTING device reads the QR, fetches the address, refuses unless SHA-256 of the
//    ML-KEM key the relay serves equals the hash in the QR (the relay cannot substitute its own
//    key), shows the device's description for the user to confirm, and seals the payload.
// The crypto (the provisioning cipher, the link URI) is crypto-core's; this file is the glue
// between it, the relay API and the encrypted store.
import { generateIdentity, type IdentityKeyPair } from '@secure-drop/crypto-core/identity';
import {
  createLinkRequest,
  decodeLinkUri,
  decodeProvisioningAddress,
  encodeLinkUri,
  encodeProvisioningAddress,
  type LinkInfo,
  type LinkSecret,
  openProvisioning,
  sealProvisioning,
} from '@secure-drop/crypto-core/provisioning';
import type { StoredMessage } from '../outbox/records.ts';
import { isKnownMessage, RECORD as OUTBOX } from '../outbox/records.ts';
import { loadIdentity, publishDeviceKeys } from '../secure/account-keys.ts';
import { RECORD, type StoredPeer, trustedKeyVerified } from '../secure/records.ts';
import type { Storage, WriteOp } from '../storage/storage.ts';
import type { DeviceKind, RelayApi } from '../transport/api.ts';
import { ApiError } from '../transport/errors.ts';
import { toAppError } from './error-map.ts';
import { AppError } from './errors.ts';
import {
  encodePayloadWithin,
  HISTORY_PER_CHAT,
  PayloadError,
  type PayloadMessage,
  type ProvisioningPayload,
  parsePayload,
} from './provisioning-payload.ts';
import { isTimelineBody } from './timeline.ts';

/** spec/protocol.md §16: the new device asks for the message at most every 2 s. */
export const POLL_INTERVAL_MS = 2_000;
/** The relay's bound on a device name (spec/openapi.yaml DeviceName). */
const NAME_MAX = 64;

export interface DeviceDescription {
  readonly name: string;
  readonly kind: DeviceKind;
}

/**
 * "Chromium on Linux", and whether it is a phone, from the User-Agent: coarse, like the
 * session list's client names — the user sees it on the device that approves the link.
 */
export function describeThisDevice(ua: string = globalThis.navigator?.userAgent ?? ''): DeviceDescription {
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /OPR\//.test(ua)
      ? 'Opera'
      : /Firefox\//.test(ua)
        ? 'Firefox'
        : /Chromium\//.test(ua)
          ? 'Chromium'
          : /Chrome\//.test(ua)
            ? 'Chrome'
            : /Safari\//.test(ua)
              ? 'Safari'
              : 'Browser';
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad|iPod/.test(ua)
      ? 'iOS'
      : /Windows/.test(ua)
        ? 'Windows'
        : /Mac OS X|Macintosh/.test(ua)
          ? 'macOS'
          : /CrOS/.test(ua)
            ? 'ChromeOS'
            : /Linux/.test(ua)
              ? 'Linux'
              : null;
  const kind: DeviceKind = /iPad|Tablet/.test(ua)
    ? 'tablet'
    : /Mobile|iPhone|iPod/.test(ua)
      ? 'phone'
      : /Android/.test(ua)
        ? 'tablet'
        : os
          ? 'desktop'
          : 'other';
  return { name: (os ? `${browser} on ${os}` : browser).slice(0, NAME_MAX), kind };
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return d === 0;
}

/** A relay answer about a provisioning address, as the codes the screens explain. */
function linkError(err: unknown): AppError {
  if (err instanceof ApiError) {
    if (err.code === 'provisioning_expired' || err.status === 410) return new AppError('link_expired');
    if (err.code === 'provisioning_used') return new AppError('link_used');
    // Unknown, or another account's address: the same answer (spec: 404 for both).
    if (err.status === 404) return new AppError('link_invalid');
  }
  return toAppError(err);
}

// ── the new device ──────────────────────────────────────────────────────────────────────────

/** An open link request: what the QR shows and what opens the answer (kept in memory only). */
export interface PendingLink {
  readonly uri: string;
  /** The address as the relay spells it (22 characters of base64url). */
  readonly address: string;
  readonly link: LinkInfo;
  readonly secret: LinkSecret;
  readonly expiresAt: number;
  readonly device: DeviceDescription;
}

/** Step 1: fresh X25519 and ML-KEM-768 pairs, POST /provisioning, the link URI for the QR. */
export async function openLinkRequest(api: RelayApi, device: DeviceDescription): Promise<PendingLink> {
  const request = createLinkRequest();
  const opened = await api.createProvisioning(request.ek, device.name, device.kind);
  let address: Uint8Array;
  try {
    address = decodeProvisioningAddress(opened.address);
  } catch {
    throw new ApiError(0, 'bad_response', 'provisioning address is not 16 bytes of base64url');
  }
  const link: LinkInfo = { address, xPk: request.xPk, ekHash: request.ekHash };
  return {
    uri: encodeLinkUri(link),
    address: opened.address,
    link,
    secret: request.secret,
    expiresAt: Date.parse(opened.expiresAt),
    device,
  };
}

/**
 * Step 4's wait: asks for the sealed message every POLL_INTERVAL_MS until it is there, the
 * address expires (AppError 'link_expired') or `signal` aborts (AppError 'cancelled').
 */
export async function waitForProvisioning(
  api: RelayApi,
  pending: PendingLink,
  signal: AbortSignal,
  now: () => number = Date.now,
  intervalMs: number = POLL_INTERVAL_MS,
): Promise<Uint8Array> {
  for (;;) {
    if (signal.aborted) throw new AppError('cancelled');
    if (now() >= pending.expiresAt) throw new AppError('link_expired');
    let message: Uint8Array | null;
    try {
      message = await api.provisioningMessage(pending.address, signal);
    } catch (err) {
      if (signal.aborted) throw new AppError('cancelled');
      const e = linkError(err);
      // A network blip is waited out like a 204; everything else ends the wait.
      if (e.code !== 'network') throw e;
      message = null;
    }
    if (message) return message;
    await new Promise<void>((done) => {
      const timer = setTimeout(done, intervalMs);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          done();
        },
        { once: true },
      );
    });
  }
}

/**
 * Opens the sealed message and checks it (spec/protocol.md §16 step 4): a valid payload, for
 * `username`, whose identity seed gives the identity key the relay publishes for the account.
 * Anything else links nothing ('link_wrong_account' / 'link_invalid').
 */
export async function openLinkPayload(
  api: RelayApi,
  pending: PendingLink,
  message: Uint8Array,
  username: string,
): Promise<{ payload: ProvisioningPayload; keyPair: IdentityKeyPair }> {
  let payload: ProvisioningPayload;
  try {
    payload = parsePayload(await openProvisioning(pending.secret, pending.link, message));
  } catch (err) {
    if (err instanceof PayloadError) throw new AppError('link_invalid');
    throw new AppError('link_invalid', { cause: err });
  }
  if (payload.username !== username) throw new AppError('link_wrong_account');
  const seed = payload.identitySeed;
  const keyPair = generateIdentity(() => seed);
  const published = await api.identity(username);
  if (!equal(published.identityKey, keyPair.publicKey)) throw new AppError('link_wrong_account');
  return { payload, keyPair };
}

/**
 * Finishes the link in `store` (new and empty): this device's prekeys uploaded as a new device
 * with the account's identity key (the relay answers with its device id, which the store
 * keeps), then the contacts and history imported.
 */
export async function completeLink(
  api: RelayApi,
  store: Storage,
  username: string,
  opened: { payload: ProvisioningPayload; keyPair: IdentityKeyPair },
  device: DeviceDescription,
  now: number = Date.now(),
): Promise<number | null> {
  const deviceId = await publishDeviceKeys(store, username, opened.keyPair, api, device, now);
  await importPayload(store, opened.payload, now);
  return deviceId;
}

/**
 * Writes the payload's contacts (trusted key and verified mark kept; a message request stays
 * one; a contact marked blocked stays marked, spec/protocol.md §16.4) and history (shown as
 * read) into the store, in one transaction. The order counter of each chat continues after
 * the highest order of this account's own messages imported (spec/protocol.md §9.1, §16.5).
 */
export async function importPayload(
  store: Storage,
  payload: ProvisioningPayload,
  now = Date.now(),
): Promise<void> {
  const ops: WriteOp[] = [];
  const history = new Map<string, PayloadMessage[]>();
  for (const m of payload.history) {
    const list = history.get(m.peer) ?? [];
    list.push(m);
    history.set(m.peer, list);
  }
  for (const c of payload.contacts) {
    const messages = (history.get(c.username) ?? []).sort((a, b) => a.sentAt - b.sentAt || a.order - b.order);
    const lastAt = messages.reduce((t, m) => (m.fromMe ? Math.max(t, m.sentAt) : t), 0);
    const peer: StoredPeer = {
      chatId: crypto.randomUUID(),
      username: c.username,
      addedAt: now,
      identityKey: c.identityKey,
      verified: c.verified,
      keyChanged: false,
      pendingIdentityKey: null,
      ...(c.refusedKeys.length ? { refusedKeys: c.refusedKeys } : {}),
      // This account's counter only: the contact's orders are theirs (spec/protocol.md §16.5).
      sentOrder: messages.reduce((n, m) => (m.fromMe ? Math.max(n, m.order) : n), 0),
      ...(lastAt ? { lastSentAt: lastAt } : {}),
      ...(c.accepted ? {} : { request: true }),
      // Marked blocked on the sealing device: kept marked here, history and all (§16.4).
      ...(c.blocked ? { blocked: true } : {}),
    };
    ops.push({ kind: 'put', key: RECORD.peer(peer.chatId), value: peer });
    for (const m of messages) {
      if (m.text === null) continue; // a photo message: its photo is not transferred
      const id = crypto.randomUUID();
      const value: StoredMessage = {
        id,
        contact: c.username,
        direction: m.fromMe ? 'out' : 'in',
        at: m.sentAt,
        ...(m.fromMe ? {} : { order: m.order }),
        storedAt: Math.min(m.sentAt, now),
        state: m.fromMe ? 'sent' : 'received',
        body: { kind: 'text', text: m.text },
      };
      ops.push({ kind: 'putMessage', chat: peer.chatId, id, value });
    }
    ops.push({ kind: 'put', key: OUTBOX.chatMeta(peer.chatId), value: { readUpTo: now } });
  }
  await store.write(ops, { durability: 'strict' });
}

// ── the existing device ─────────────────────────────────────────────────────────────────────

/** What the existing device shows before the user confirms a link. */
export interface LinkCandidate {
  readonly link: LinkInfo;
  /** The address as the relay spells it. */
  readonly address: string;
  readonly pqKey: Uint8Array;
  readonly name: string;
  readonly kind: DeviceKind;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/**
 * Reads a scanned link code: a valid link URI ('link_invalid'), an open address of this account
 * ('link_invalid' / 'link_expired' / 'link_used'), and the ML-KEM key the relay serves is the
 * one the QR names ('link_mismatch': the relay, or someone, put another key there).
 */
export async function inspectLinkCode(api: RelayApi, scanned: string): Promise<LinkCandidate> {
  let link: LinkInfo;
  try {
    link = decodeLinkUri(scanned.trim());
  } catch {
    throw new AppError('link_invalid');
  }
  const address = encodeProvisioningAddress(link.address);
  let entry: Awaited<ReturnType<RelayApi['provisioning']>>;
  try {
    entry = await api.provisioning(address);
  } catch (err) {
    throw linkError(err);
  }
  if (!equal(await sha256(entry.pqKey), link.ekHash)) throw new AppError('link_mismatch');
  return {
    link,
    address,
    pqKey: entry.pqKey,
    name: entry.name,
    kind: entry.kind,
    createdAt: Date.parse(entry.createdAt),
    expiresAt: Date.parse(entry.expiresAt),
  };
}

/** This device's account as a provisioning payload; `history`: the last 200 texts per chat. */
export async function collectPayload(store: Storage, history: boolean): Promise<ProvisioningPayload> {
  const identity = await loadIdentity(store);
  if (!identity) throw new AppError('unauthorized');
  const peers = (await store.list<StoredPeer>(RECORD.peerPrefix)).map((r) => r.value);
  // The schema carries each contact's accepted key: a contact this device never learnt a key for
  // is left out (the new device adds it from the relay's contact list, GET /contacts).
  const known = peers.filter((p): p is StoredPeer & { identityKey: Uint8Array } => p.identityKey !== null);
  const messages: PayloadMessage[] = [];
  if (history)
    for (const peer of known) {
      // The texts among the last 200 (photos are not transferred, spec/protocol.md §16.8).
      const rows = (await store.messages<StoredMessage>(peer.chatId, HISTORY_PER_CHAT))
        .map((r) => r.value)
        .filter((m) => isKnownMessage(m) && !isTimelineBody(m.body) && m.state !== 'failed');
      // `order` is each sender's own counter (§9.1, §16.5): the contact's messages keep theirs,
      // which the contact chose; ours are not stored with theirs, so they are numbered up to this
      // account's counter for the chat (the last one sent from here or learnt from a sync copy).
      // Never after the contact's: an order of theirs near 2^53 would make ours unsendable.
      const synced = (await store.get<number>(RECORD.syncedOrder(peer.chatId))) ?? 0;
      const mine = rows.filter((m) => m.direction === 'out').length;
      let own = Math.max(0, Math.max(peer.sentOrder ?? 0, synced) - mine);
      let theirs = 0;
      for (const m of rows) {
        let order: number;
        if (m.direction === 'out') order = ++own;
        else {
          theirs = m.order ?? Math.min(theirs + 1, Number.MAX_SAFE_INTEGER);
          order = theirs;
        }
        messages.push({
          peer: peer.username,
          fromMe: m.direction === 'out',
          sentAt: Math.max(0, Math.round(m.at)),
          order,
          text: m.body.kind === 'text' ? m.body.text : null,
        });
      }
    }
  return {
    username: identity.username,
    identitySeed: identity.keyPair.secretKey,
    contacts: known.map((p) => ({
      username: p.username,
      identityKey: p.identityKey,
      // Of the trusted key, which a pending change leaves in place: a contact verified before a
      // change stays so on the new device, where the same change is then not clicked through.
      verified: trustedKeyVerified(p),
      refusedKeys: p.refusedKeys ?? [],
      accepted: !p.request,
      // Marked blocked (StoredPeer.blocked): the new device keeps the chat marked too.
      blocked: p.blocked === true,
    })),
    history: messages,
  };
}

/** The user confirmed: seal this account's payload for the new device and PUT it (works once). */
export async function approveLink(
  api: RelayApi,
  store: Storage,
  candidate: LinkCandidate,
  options: { history: boolean },
): Promise<void> {
  const payload = encodePayloadWithin(await collectPayload(store, options.history));
  let sealed: Uint8Array;
  try {
    sealed = await sealProvisioning(candidate.link, candidate.pqKey, payload);
  } catch (err) {
    // BAD_KEY: the key is not the one the QR names (checked already by inspectLinkCode).
    throw new AppError('link_mismatch', { cause: err });
  }
  try {
    await api.putProvisioning(candidate.address, sealed);
  } catch (err) {
    throw linkError(err);
  }
}
