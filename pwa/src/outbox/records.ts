// Stored shapes of chat history and the outbox (the encrypted Storage holds them; views get
// the ChatMessage projection from src/state). Record names hold only random ids.
import type { SealedSend } from '../secure/session-manager.ts';
import type { AppErrorCode, DeliveryState, ExpiredBody, PhotoInfo } from '../state/types.ts';

export const RECORD = {
  outbox: (id: string) => `outbox:${id}`,
  outboxPrefix: 'outbox:',
  /** Decrypted (or, for our own, prepared) photo bytes, kept for offline viewing. */
  photo: (messageId: string) => `photo:${messageId}`,
  /** Prepared photo bytes waiting in the outbox. */
  outgoingPhoto: (messageId: string) => `outphoto:${messageId}`,
  outgoingPhotoPrefix: 'outphoto:',
  /**
   * The photo message (spec §10.4: key, digest, blob id) of a photo uploaded but not yet sent: a
   * retry seals it again rather than upload the photo a second time, which would leave the
   * first blob counted in the sender's photo quota until retention.
   */
  uploadedPhoto: (messageId: string) => `outphotoup:${messageId}`,
  uploadedPhotoPrefix: 'outphotoup:',
  chatMeta: (chatId: string) => `chatmeta:${chatId}`,
  /**
   * The relay id of one copy of a sent message → the message id: a delivered item names the
   * copy it is about (spec §16: one delivered per recipient copy acked).
   */
  copy: (relayId: number) => `copy:${relayId}`,
} as const;

/**
 * What an outbox item holds once encrypted: the sealed set of every device's copy (spec §16) —
 * or, in a store from before linked devices, the single ciphertext sealed for device 1.
 */
export type SealedWire = SealedSend | Uint8Array;

export interface StoredPhoto extends PhotoInfo {
  readonly blobId: string | null;
  readonly ciphertextSha256: Uint8Array | null;
  readonly thumbnail: Uint8Array;
  /** Received (or synced) photos: the v3 photo key that opens the blob (spec §10), until it is downloaded. */
  readonly photoKey?: Uint8Array;
  /** A version 2 photo stored before linked devices (its keys came from the message key). */
  readonly messageKey?: Uint8Array;
  readonly header?: Uint8Array;
}

type StoredBody =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'photo'; readonly photo: StoredPhoto }
  /**
   * A timeline entry, not a message: the contact's identity key changed here, or (`refused`)
   * the user kept the trusted key and refused the new one.
   */
  | { readonly kind: 'keyChange'; readonly refused?: true }
  /**
   * A timeline entry: a message request became a contact because the relay's list names them;
   * with `added`, a contact not known here was added because it does (ChatMessage's body).
   */
  | { readonly kind: 'acceptedElsewhere'; readonly added?: true }
  | ExpiredBody;

/** Every body kind this build stores (exhaustive: the compiler checks it against StoredBody). */
const KNOWN_KINDS = {
  text: true,
  photo: true,
  keyChange: true,
  acceptedElsewhere: true,
  expired: true,
} as const satisfies Record<StoredBody['kind'], true>;

/**
 * Whether a stored message row is of a kind this build knows. A row of another kind was written
 * by a later build (a new timeline entry, say) and is read here after the app went back to this
 * build: the places that read history skip it instead of failing to show the chat, and it stays
 * stored for the build that knows it.
 */
export function isKnownMessage(row: unknown): row is StoredMessage {
  const kind = (row as { body?: { kind?: unknown } } | null)?.body?.kind;
  return typeof kind === 'string' && Object.hasOwn(KNOWN_KINDS, kind);
}

/** Every outbox item kind this build sends (exhaustive, as KNOWN_KINDS). */
const KNOWN_ITEM_KINDS = { text: true, photo: true } as const satisfies Record<OutboxItem['kind'], true>;

/**
 * Whether an outbox item is of a kind this build can send. One queued by a later build is left
 * alone, as its message is (isKnownMessage): neither sent, failed, nor holding the chat's later
 * messages behind it.
 */
export function isKnownItem(item: OutboxItem): boolean {
  return Object.hasOwn(KNOWN_ITEM_KINDS, (item as { kind: unknown }).kind as string);
}

export interface StoredMessage {
  readonly id: string;
  readonly contact: string;
  readonly direction: 'out' | 'in';
  /**
   * Sender's clock: for incoming messages the time sealed inside the ciphertext
   * (spec/protocol.md §9.1), for outgoing ones ours. Orders the chat.
   */
  readonly at: number;
  /**
   * The sender's per-conversation order number (from inside the ciphertext): incoming
   * messages, and ours synced from another of our devices (spec §16).
   */
  readonly order?: number;
  /** The sending device, when it is known (ties of sentAt and order are broken by it, spec §16). */
  readonly fromDevice?: number;
  /** Ours, sent from another device of this account (a sync copy, spec §16). */
  readonly synced?: true;
  /** Incoming: when the relay received it (its created_at) — shown only as "received at". */
  readonly receivedAt?: number;
  /** When this device stored it (orders unread counts). */
  readonly storedAt: number;
  readonly state: DeliveryState;
  readonly body: StoredBody;
  /** The relay's message id once sent / the envelope id when received. */
  readonly relayId?: number;
  readonly error?: AppErrorCode;
}

export interface OutboxItem {
  /** = the message id = the relay's client_id: stable across retries (exactly once). */
  readonly id: string;
  readonly contact: string;
  readonly chatId: string;
  readonly kind: 'text' | 'photo';
  readonly createdAt: number;
  /** The encrypted message once made; a retry resends these same bytes. */
  readonly wire: SealedWire | null;
  /**
   * The relay's client_id when it is not `id`: a message re-sealed for a contact's new key
   * after a key change gets a new one (`<id>_r<n>`), or the relay would answer the resend as a
   * duplicate of the old ciphertext (spec/openapi.yaml, POST /messages).
   */
  readonly clientId?: string;
  /** Set when sending failed for a reason a retry by the user may fix. */
  readonly failed: AppErrorCode | null;
}

export interface ChatMeta {
  /** Incoming messages stored after this moment are unread. */
  readonly readUpTo: number;
}
