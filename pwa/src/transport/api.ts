// The relay's HTTP API as typed methods (paths as in spec/openapi.yaml; behind the host they
// sit under /api). Bytes are base64 on the wire and Uint8Array here.
import { base64 } from '@scure/base';
import { ApiError } from './errors.ts';
import { HttpClient, type HttpOptions, type Tokens } from './http.ts';
import type {
  AckBodyWire,
  AckResultWire,
  BlockListWire,
  BundleWire,
  ContactListWire,
  ContactWire,
  IdentityWire,
  KeyStatusWire,
  KeysUploadResultWire,
  KeysUploadWire,
  MessagesPageWire,
  RecoveryCodesWire,
  RegisterConfirmWire,
  RegisterStartWire,
  SendMessageBodyWire,
  SendMessageResultWire,
  SessionListWire,
  SessionTokensWire,
} from './wire.ts';

export interface RegistrationStartResult {
  readonly username: string;
  readonly otpauthUri: string;
  readonly secret: string;
  /** When the pending registration lapses (ms since the epoch; NaN if the relay gave none). */
  readonly expiresAt: number;
  readonly qrImageUrl: string;
}

/** One live session of the account (GET /sessions). */
export interface SessionEntry {
  readonly id: string;
  /** Coarse "<browser> on <OS>" from the User-Agent at login. */
  readonly client: string;
  readonly createdAt: string;
  readonly lastUsedAt: string;
  /** The session making the request: this device. */
  readonly current: boolean;
}

export interface Session {
  readonly tokens: Tokens;
  readonly username: string;
}

const toTokens = (w: SessionTokensWire, now = Date.now()): Tokens => ({
  accessToken: w.access_token,
  refreshToken: w.refresh_token,
  accessExpiresAt: now + w.expires_in * 1000,
});

/** What a new device tells the relay about itself (spec/openapi.yaml: name 1–64 printable chars). */
export interface DeviceDescription {
  /** 1–64 printable characters, e.g. "Chromium on Linux". */
  readonly name: string;
  readonly kind: DeviceKind;
}

export interface KeysUpload {
  /**
   * RESUME (spec/protocol.md §16): this device's id from an earlier POST /keys — the relay binds
   * the (new) login session to it if it is still active, else 409 `device_removed`.
   */
  readonly deviceId?: number;
  /**
   * RESUME: the secret the relay gave this device with its id (spec/protocol.md §16.9); without
   * it (or a wrong one) the relay answers 403 `resume_refused`.
   */
  readonly resumeSecret?: Uint8Array;
  /** A new device (first upload of a device-less session): its name and kind. */
  readonly device?: DeviceDescription;
  readonly identityKey?: Uint8Array;
  /** Required with identityKey: its proof of possession for this account (spec/protocol.md §4.6). */
  readonly identityProof?: Uint8Array;
  readonly signedPreKey?: { id: number; publicKey: Uint8Array; signature: Uint8Array };
  readonly pqPreKey?: { id: number; publicKey: Uint8Array; signature: Uint8Array };
  readonly oneTimePreKeys?: readonly { id: number; publicKey: Uint8Array }[];
  /** One-time ML-KEM-768 prekeys, each signed by the identity key (spec/protocol.md §4.4). */
  readonly oneTimePqPreKeys?: readonly { id: number; publicKey: Uint8Array; signature: Uint8Array }[];
}

/** POST /keys' answer: the device the session is bound to (spec/openapi.yaml). */
export interface KeysUploadResult {
  readonly deviceId: number | null;
  /** The device's resume secret, when the relay issued it with this answer (it does so once). */
  readonly resumeSecret: Uint8Array | null;
}

export interface Bundle {
  readonly username: string;
  readonly identityKey: Uint8Array;
  readonly signedPreKey: { id: number; publicKey: Uint8Array; signature: Uint8Array };
  /** A one-time ML-KEM-768 prekey while the owner's stock lasts, else the last-resort one. */
  readonly pqPreKey: {
    kind: 'one_time' | 'last_resort';
    id: number;
    publicKey: Uint8Array;
    signature: Uint8Array;
  };
  readonly oneTimePreKey?: { id: number; publicKey: Uint8Array };
}

/** One device's bundle (GET /keys/{username} devices[]): the account's identity key is shared. */
export interface DeviceBundle extends Bundle {
  readonly deviceId: number;
}

/**
 * GET /keys/{username}[?device_ids=…]: one bundle per device that has a complete one (the
 * caller's own device excluded when it asks for its own account).
 */
export interface DeviceBundles {
  readonly username: string;
  readonly identityKey: Uint8Array;
  readonly devices: readonly DeviceBundle[];
}

/** A user's published identity (GET /identity/{username}): hands out no prekey. */
export interface Identity {
  readonly username: string;
  readonly identityKey: Uint8Array;
  /** The signed prekey ids of the account's lowest device (0 when it has none). */
  readonly signedPreKeyId: number;
  readonly pqPreKeyId: number;
  /** The account's active devices with a complete bundle. */
  readonly deviceIds: readonly number[];
  /** Each device's current signed prekey ids. */
  readonly devices: readonly { deviceId: number; signedPreKeyId: number; pqPreKeyId: number }[];
}

/** One device of this account (GET /devices). */
export interface DeviceEntry {
  readonly deviceId: number;
  readonly name: string;
  readonly kind: DeviceKind;
  readonly createdAt: string;
  readonly lastSeenAt: string | null;
  /** The device making the request: this one. */
  readonly current: boolean;
}

interface DeviceEntryWire {
  device_id?: unknown;
  name?: unknown;
  kind?: unknown;
  created_at?: unknown;
  last_seen_at?: unknown;
  current?: unknown;
}

/** One sealed copy of a message for one device (POST /send_message messages[] / own[]). */
export interface DeviceCopy {
  readonly deviceId: number;
  readonly body: Uint8Array;
}

/** POST /send_message's answer: the relay id of each copy (SendResult.copies). */
export interface SendResult {
  /** The recipient copy of the lowest device id. */
  readonly id: number;
  readonly duplicate: boolean;
  readonly copies: readonly { readonly deviceId: number; readonly own: boolean; readonly id: number }[];
}

/**
 * Most devices of one account this app deals with: in a stale_devices answer or a bundle answer,
 * and in a contact's device list (DEVICE_LIMIT is 5; anything more is refused).
 */
export const MAX_DEVICES = 16;
/** A device id (spec: 1 … 2^31−1). */
export const isDeviceId = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 0x7fffffff;

/** A list of distinct device ids from the relay, or null when it is not one. */
export function deviceIdList(v: unknown): number[] | null {
  if (!Array.isArray(v) || v.length > MAX_DEVICES || !v.every(isDeviceId)) return null;
  return [...new Set(v)].sort((a, b) => a - b);
}

/** SendResult as the relay sends it (HTTP body or the socket's response body). */
export function sendResultOf(w: unknown): SendResult {
  const o = w as { id?: unknown; duplicate?: unknown; copies?: unknown };
  if (typeof o !== 'object' || o === null || typeof o.id !== 'number')
    throw new ApiError(0, 'bad_response', 'send answer has no message id');
  const copies = Array.isArray(o.copies)
    ? o.copies.flatMap((c: { device_id?: unknown; own?: unknown; id?: unknown }) =>
        isDeviceId(c?.device_id) && typeof c.id === 'number'
          ? [{ deviceId: c.device_id, own: c.own === true, id: c.id }]
          : [],
      )
    : [];
  return { id: o.id, duplicate: o.duplicate === true, copies };
}

/**
 * An unacknowledged message of this account's stream (the `Envelope` schema of
 * spec/openapi.yaml), its body decoded to the wire message crypto-core reads.
 */
export interface PendingMessage {
  readonly id: number;
  readonly seq: number;
  readonly sender: string;
  /** The sender's device (Envelope.from_device); null from a relay without devices. */
  readonly fromDevice: number | null;
  readonly body: Uint8Array;
  readonly createdAt: string;
}

/** What a device says about itself (spec/openapi.yaml: name 1–64 printable chars, kind). */
export type DeviceKind = 'phone' | 'tablet' | 'desktop' | 'other';
const KINDS: readonly string[] = ['phone', 'tablet', 'desktop', 'other'];
/** A kind from the relay; anything unexpected shows as 'other'. */
const deviceKindOf = (v: unknown): DeviceKind => (KINDS.includes(v as string) ? (v as DeviceKind) : 'other');

/** An open provisioning address as the existing device reads it (GET /provisioning/{address}). */
export interface ProvisioningEntry {
  readonly pqKey: Uint8Array;
  readonly name: string;
  readonly kind: DeviceKind;
  readonly createdAt: string;
  readonly expiresAt: string;
}

interface ProvisioningWire {
  pq_key: string;
  name: string;
  kind: DeviceKind;
  created_at: string;
  expires_at: string;
}

const b64 = (bytes: Uint8Array) => base64.encode(bytes);
function unb64(text: unknown, field: string): Uint8Array {
  if (typeof text !== 'string') throw new ApiError(0, 'bad_response', `${field} missing`);
  try {
    return base64.decode(text);
  } catch {
    throw new ApiError(0, 'bad_response', `${field} is not base64`);
  }
}

interface DeviceBundleWire {
  device_id: unknown;
  signed_prekey: { key_id: number; public_key: string; signature: string };
  pq_prekey: { kind: 'one_time' | 'last_resort'; key_id: number; public_key: string; signature: string };
  one_time_prekey?: { key_id: number; public_key: string } | null;
}

const signedIn = (k: { key_id: number; public_key: string; signature: string }, field: string) => ({
  id: k.key_id,
  publicKey: unb64(k.public_key, `${field}.public_key`),
  signature: unb64(k.signature, `${field}.signature`),
});

/**
 * POST /send_message's body (Sesame fan-out, spec/protocol.md §16): one copy per recipient
 * device and one sync copy per own other device, under one client_id. A send frame on the
 * socket carries the same (transport/ws.ts).
 */
export const sendMessageBody = (
  to: string,
  clientId: string,
  messages: readonly DeviceCopy[],
  own: readonly DeviceCopy[] = [],
): SendMessageBodyWire => ({
  to,
  client_id: clientId,
  messages: messages.map((c) => ({ device_id: c.deviceId, body: b64(c.body) })),
  own: own.map((c) => ({ device_id: c.deviceId, body: b64(c.body) })),
});

/** POST /ack's body (empty lists left out); an ack frame on the socket carries the same. */
export function ackBody(
  ids: readonly number[],
  photoIds: readonly string[] = [],
  noReceiptIds: readonly number[] = [],
): AckBodyWire {
  const body: { ids?: number[]; photo_ids?: string[]; no_receipt_ids?: number[] } = {};
  if (ids.length) body.ids = [...ids];
  if (photoIds.length) body.photo_ids = [...photoIds];
  if (noReceiptIds.length) body.no_receipt_ids = [...noReceiptIds];
  return body;
}

/**
 * The relay's otpauth URI, if it is one (Key Uri Format: otpauth://totp/…) for the secret it
 * gave: the app puts it in a link and a QR code, and a relay must not choose where a tap on
 * that link goes (a page of its own under /api runs script in the app's origin).
 */
function otpauthUriOf(w: RegisterStartWire): string {
  // Matched as text: browsers differ on the host of a URL of a scheme they do not know.
  const m = /^otpauth:\/\/totp\/[^?#]+\?([^#]*)$/.exec(w.otpauth_uri);
  if (!m || new URLSearchParams(m[1]).get('secret') !== w.secret)
    throw new ApiError(0, 'bad_response', 'otpauth_uri is not the TOTP URI of the secret');
  return w.otpauth_uri;
}

/** A TOTP enrolment as the relay gives it (spec/openapi.yaml Registration). */
const enrolmentOf = (w: RegisterStartWire, username: string): RegistrationStartResult => ({
  username,
  otpauthUri: otpauthUriOf(w),
  secret: w.secret,
  qrImageUrl: qrImageOf(w),
  expiresAt: Date.parse(w.expires_at),
});

function qrImageOf(w: RegisterStartWire): string {
  if (typeof w.qr_png === 'string' && w.qr_png.startsWith('data:image/png;base64,')) return w.qr_png;
  throw new ApiError(0, 'bad_response', 'registration answer has no QR image');
}

export class RelayApi {
  readonly http: HttpClient;

  constructor(options: Omit<HttpOptions, 'refresh'>) {
    this.http = new HttpClient({ ...options, refresh: (token, id) => this.refresh(token, id) });
  }

  // ── registration and sessions ─────────────────────────────────────────────────────────

  async register(username: string): Promise<RegistrationStartResult> {
    const w = await this.http.request<RegisterStartWire>('POST', '/register', {
      body: { username },
      auth: false,
    });
    return enrolmentOf(w, w.username ?? username);
  }

  async confirmRegistration(username: string, code: string): Promise<Session & { recoveryCodes: string[] }> {
    const w = await this.http.request<RegisterConfirmWire>('POST', '/register/confirm', {
      body: { username, code },
      auth: false,
    });
    const tokens = toTokens(w);
    this.http.setTokens(tokens);
    return { tokens, username: w.user.username, recoveryCodes: w.recovery_codes };
  }

  async login(username: string, code: string): Promise<Session> {
    const w = await this.http.request<SessionTokensWire>('POST', '/login', {
      body: { username, code },
      auth: false,
    });
    const tokens = toTokens(w);
    this.http.setTokens(tokens);
    return { tokens, username: w.user.username };
  }

  private async refresh(refreshToken: string, refreshId: string): Promise<Tokens> {
    const w = await this.http.request<SessionTokensWire>('POST', '/session/refresh', {
      body: { refresh_token: refreshToken, refresh_id: refreshId },
      auth: false,
    });
    return toTokens(w);
  }

  async logout(): Promise<void> {
    try {
      await this.http.request<void>('POST', '/logout');
    } finally {
      this.http.setTokens(null);
    }
  }

  async logoutAll(): Promise<void> {
    try {
      await this.http.request<void>('POST', '/logout/all');
    } finally {
      this.http.setTokens(null);
    }
  }

  /** POST /session/reauth: a fresh second factor for this session (spec: step-up). */
  async reauth(code: string): Promise<void> {
    await this.http.request<void>('POST', '/session/reauth', { body: { code } });
  }

  /** POST /totp/reenroll: a new pending TOTP secret, authorised by a current or recovery code. */
  async startTotpReenroll(code: string): Promise<RegistrationStartResult> {
    const w = await this.http.request<RegisterStartWire>('POST', '/totp/reenroll', { body: { code } });
    return enrolmentOf(w, w.username);
  }

  /** POST /totp/reenroll/confirm: a code of the NEW secret; every other session ends. */
  async confirmTotpReenroll(code: string): Promise<void> {
    await this.http.request<void>('POST', '/totp/reenroll/confirm', { body: { code } });
  }

  /** POST /recovery_codes/regenerate: every old recovery code stops working. */
  async regenerateRecoveryCodes(code: string): Promise<string[]> {
    const w = await this.http.request<RecoveryCodesWire>('POST', '/recovery_codes/regenerate', {
      body: { code },
    });
    return w.recovery_codes;
  }

  async sessions(): Promise<SessionEntry[]> {
    const w = await this.http.request<SessionListWire>('GET', '/sessions');
    return w.sessions.map((s) => ({
      id: s.id,
      client: s.client,
      createdAt: s.created_at,
      lastUsedAt: s.last_used_at,
      current: s.current,
    }));
  }

  async endSession(id: string): Promise<void> {
    await this.http.request<void>('DELETE', `/sessions/${encodeURIComponent(id)}`);
  }

  // ── keys ──────────────────────────────────────────────────────────────────────────────

  async uploadKeys(keys: KeysUpload): Promise<KeysUploadResult> {
    const body: KeysUploadWire & { device_id?: number; device?: DeviceDescription } = {};
    if (keys.deviceId !== undefined) body.device_id = keys.deviceId;
    if (keys.resumeSecret) body.resume_secret = b64(keys.resumeSecret);
    if (keys.device) body.device = { name: keys.device.name, kind: keys.device.kind };
    if (keys.identityKey) body.identity_key = b64(keys.identityKey);
    if (keys.identityProof) body.identity_proof = b64(keys.identityProof);
    if (keys.signedPreKey)
      body.signed_prekey = {
        key_id: keys.signedPreKey.id,
        public_key: b64(keys.signedPreKey.publicKey),
        signature: b64(keys.signedPreKey.signature),
      };
    if (keys.pqPreKey)
      body.pq_prekey = {
        key_id: keys.pqPreKey.id,
        public_key: b64(keys.pqPreKey.publicKey),
        signature: b64(keys.pqPreKey.signature),
      };
    if (keys.oneTimePreKeys)
      body.one_time_prekeys = keys.oneTimePreKeys.map((k) => ({
        key_id: k.id,
        public_key: b64(k.publicKey),
      }));
    if (keys.oneTimePqPreKeys)
      body.one_time_pq_prekeys = keys.oneTimePqPreKeys.map((k) => ({
        key_id: k.id,
        public_key: b64(k.publicKey),
        signature: b64(k.signature),
      }));
    const w = await this.http.request<KeysUploadResultWire & { device_id?: unknown }>('POST', '/keys', {
      body,
    });
    return {
      deviceId: isDeviceId(w?.device_id) ? w.device_id : null,
      resumeSecret: typeof w?.resume_secret === 'string' ? unb64(w.resume_secret, 'resume_secret') : null,
    };
  }

  keyStatus(): Promise<KeyStatusWire> {
    return this.http.request<KeyStatusWire>('GET', '/keys');
  }

  /**
   * GET /keys/{username}[?device_ids=…]: a bundle per device (each spends one of that device's
   * one-time prekeys) — only to start sessions. `deviceIds` asks for those devices only (after
   * a 409 stale_devices: just the missing ones).
   */
  async bundles(username: string, deviceIds?: readonly number[]): Promise<DeviceBundles> {
    const w = await this.http.request<BundleWire & { devices?: unknown }>(
      'GET',
      `/keys/${encodeURIComponent(username)}`,
      deviceIds?.length ? { query: { device_ids: deviceIds.join(',') } } : {},
    );
    const identityKey = unb64(w.identity_key, 'identity_key');
    if (!Array.isArray(w.devices) || w.devices.length > MAX_DEVICES)
      throw new ApiError(0, 'bad_response', 'bundle answer has no device list');
    const devices = (w.devices as DeviceBundleWire[]).map((d): DeviceBundle => {
      if (!isDeviceId(d?.device_id)) throw new ApiError(0, 'bad_response', 'bad device id');
      const out: DeviceBundle = {
        username: w.username,
        deviceId: d.device_id,
        identityKey,
        signedPreKey: signedIn(d.signed_prekey, 'signed_prekey'),
        pqPreKey: { kind: d.pq_prekey.kind, ...signedIn(d.pq_prekey, 'pq_prekey') },
      };
      return d.one_time_prekey
        ? {
            ...out,
            oneTimePreKey: {
              id: d.one_time_prekey.key_id,
              publicKey: unb64(d.one_time_prekey.public_key, 'one_time_prekey'),
            },
          }
        : out;
    });
    return { username: w.username, identityKey, devices };
  }

  /** Identity key and prekey ids only: for key-change checks and safety numbers (spends nothing). */
  async identity(username: string): Promise<Identity> {
    const w = await this.http.request<IdentityWire>('GET', `/identity/${encodeURIComponent(username)}`);
    const devices = (Array.isArray(w.devices) ? w.devices : [])
      .filter((d) => isDeviceId(d.device_id))
      .map((d) => ({ deviceId: d.device_id, signedPreKeyId: d.signed_prekey_id, pqPreKeyId: d.pq_prekey_id }))
      .sort((a, b) => a.deviceId - b.deviceId);
    return {
      username: w.username,
      identityKey: unb64(w.identity_key, 'identity_key'),
      signedPreKeyId: devices[0]?.signedPreKeyId ?? 0,
      pqPreKeyId: devices[0]?.pqPreKeyId ?? 0,
      deviceIds: deviceIdList(w.device_ids) ?? devices.map((d) => d.deviceId),
      devices,
    };
  }

  // ── devices (spec §16) ──────────────────────────────────────────────────────────────────

  /** GET /devices: this account's devices; `current` is the one making the request. */
  async devices(): Promise<DeviceEntry[]> {
    const w = await this.http.request<{ devices?: unknown }>('GET', '/devices');
    if (!Array.isArray(w.devices)) throw new ApiError(0, 'bad_response', 'no device list');
    return (w.devices as DeviceEntryWire[]).flatMap((d) =>
      isDeviceId(d?.device_id)
        ? [
            {
              deviceId: d.device_id,
              name: String(d.name ?? ''),
              kind: deviceKindOf(d.kind),
              createdAt: String(d.created_at ?? ''),
              lastSeenAt: typeof d.last_seen_at === 'string' ? d.last_seen_at : null,
              current: d.current === true,
            },
          ]
        : [],
    );
  }

  /**
   * DELETE /devices/{id}: unlinks a device. Another device needs a fresh second factor first
   * (403 reauth_required → reauth(code)); the current one does not.
   */
  async removeDevice(deviceId: number): Promise<void> {
    await this.http.request<void>('DELETE', `/devices/${deviceId}`);
  }

  // ── contacts ──────────────────────────────────────────────────────────────────────────

  addContact(username: string): Promise<ContactWire> {
    return this.http.request<ContactWire>('POST', '/contacts', { body: { username } });
  }

  /** POST /blocks: the relay drops everything this user sends the caller from now on. */
  async block(username: string): Promise<void> {
    await this.http.request<unknown>('POST', '/blocks', { body: { username } });
  }

  /** GET /blocks: the users the caller has blocked, by username. */
  async blocks(): Promise<{ username: string; blockedAt: string }[]> {
    const w = await this.http.request<BlockListWire>('GET', '/blocks');
    return w.blocks.map((b) => ({ username: b.username, blockedAt: b.blocked_at }));
  }

  /** DELETE /blocks/{username}: what they send from now on is delivered again. */
  async unblock(username: string): Promise<void> {
    await this.http.request<void>('DELETE', `/blocks/${encodeURIComponent(username)}`);
  }

  async contacts(): Promise<ContactWire[]> {
    return (await this.http.request<ContactListWire>('GET', '/contacts')).contacts;
  }

  removeContact(username: string): Promise<void> {
    return this.http.request<void>('DELETE', `/contacts/${encodeURIComponent(username)}`);
  }

  // ── messages ──────────────────────────────────────────────────────────────────────────

  /** One send: a copy per recipient device, a sync copy per own other device, one client_id. */
  async sendMessage(
    to: string,
    clientId: string,
    messages: readonly DeviceCopy[],
    own: readonly DeviceCopy[] = [],
  ): Promise<SendResult> {
    return sendResultOf(
      await this.http.request<SendMessageResultWire>('POST', '/send_message', {
        body: sendMessageBody(to, clientId, messages, own),
      }),
    );
  }

  async messages(
    cursor: number,
    limit = 100,
  ): Promise<{ messages: PendingMessage[]; nextCursor: number; hasMore: boolean }> {
    const w = await this.http.request<MessagesPageWire>('GET', '/get_messages', { query: { cursor, limit } });
    return {
      messages: w.messages.map((m) => ({
        id: m.id,
        seq: m.seq,
        sender: m.from,
        fromDevice: isDeviceId((m as { from_device?: unknown }).from_device)
          ? ((m as { from_device?: unknown }).from_device as number)
          : null,
        body: unb64(m.body, 'body'),
        createdAt: m.created_at,
      })),
      nextCursor: w.next_cursor,
      hasMore: w.has_more,
    };
  }

  /** `noReceiptIds`: acknowledged without a delivery receipt to the sender (message requests). */
  ack(
    ids: readonly number[],
    photoIds: readonly string[] = [],
    noReceiptIds: readonly number[] = [],
  ): Promise<AckResultWire> {
    return this.http.request<AckResultWire>('POST', '/ack', { body: ackBody(ids, photoIds, noReceiptIds) });
  }

  // ── linking (spec/protocol.md §16) ────────────────────────────────────────────────────

  /** POST /provisioning: a new, device-less session opens a linking address. */
  async createProvisioning(
    pqKey: Uint8Array,
    name: string,
    kind: DeviceKind,
  ): Promise<{ address: string; expiresAt: string }> {
    const w = await this.http.request<{ address: string; expires_at: string }>('POST', '/provisioning', {
      body: { pq_key: b64(pqKey), name, kind },
    });
    return { address: w.address, expiresAt: w.expires_at };
  }

  async provisioning(address: string): Promise<ProvisioningEntry> {
    const w = await this.http.request<ProvisioningWire>(
      'GET',
      `/provisioning/${encodeURIComponent(address)}`,
    );
    return {
      pqKey: unb64(w.pq_key, 'pq_key'),
      name: w.name,
      kind: deviceKindOf(w.kind),
      createdAt: w.created_at,
      expiresAt: w.expires_at,
    };
  }

  /** PUT /provisioning/{address}: the sealed provisioning message (works once). */
  async putProvisioning(address: string, message: Uint8Array): Promise<void> {
    await this.http.request<void>('PUT', `/provisioning/${encodeURIComponent(address)}`, { bytes: message });
  }

  /** GET /provisioning/{address}/message: null while nothing is there (204), the bytes once. */
  async provisioningMessage(address: string, signal?: AbortSignal): Promise<Uint8Array | null> {
    const response = await this.http.send(
      'GET',
      `/provisioning/${encodeURIComponent(address)}/message`,
      signal ? { signal } : {},
      true,
    );
    if (response.status === 204) return null;
    return new Uint8Array(await response.arrayBuffer());
  }
}
