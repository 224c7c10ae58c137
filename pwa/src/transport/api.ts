// The relay's HTTP API as typed methods (paths as in spec/openapi.yaml; behind the host they
// sit under /api). Bytes are base64 on the wire and Uint8Array here.
import { base64 } from '@scure/base';
import { ApiError } from './errors.ts';
import { HttpClient, type HttpOptions, type Tokens } from './http.ts';
import type {
  AckBodyWire,
  AckResultWire,
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

export interface KeysUpload {
  readonly identityKey?: Uint8Array;
  /** Required with identityKey: its proof of possession for this account (spec/protocol.md §4.6). */
  readonly identityProof?: Uint8Array;
  readonly signedPreKey?: { id: number; publicKey: Uint8Array; signature: Uint8Array };
  readonly pqPreKey?: { id: number; publicKey: Uint8Array; signature: Uint8Array };
  readonly oneTimePreKeys?: readonly { id: number; publicKey: Uint8Array }[];
  /** One-time ML-KEM-768 prekeys, each signed by the identity key (spec/protocol.md §4.4). */
  readonly oneTimePqPreKeys?: readonly { id: number; publicKey: Uint8Array; signature: Uint8Array }[];
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

/** A user's published identity (GET /identity/{username}): hands out no prekey. */
export interface Identity {
  readonly username: string;
  readonly identityKey: Uint8Array;
  readonly signedPreKeyId: number;
  readonly pqPreKeyId: number;
}

/**
 * An unacknowledged message of this account's stream (the `Envelope` schema of
 * spec/openapi.yaml), its body decoded to the wire message crypto-core reads.
 */
export interface PendingMessage {
  readonly id: number;
  readonly seq: number;
  readonly sender: string;
  readonly body: Uint8Array;
  readonly createdAt: string;
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

const signedIn = (k: { key_id: number; public_key: string; signature: string }, field: string) => ({
  id: k.key_id,
  publicKey: unb64(k.public_key, `${field}.public_key`),
  signature: unb64(k.signature, `${field}.signature`),
});

/**
 * POST /send_message's body; a send frame on the socket carries the same (transport/ws.ts). One
 * copy for the recipient's first device and no sync copies: what a single-device account sends
 * (spec/openapi.yaml SendRequest); the per-device fan-out is the messenger's (protocol §16).
 */
export const sendMessageBody = (to: string, clientId: string, body: Uint8Array): SendMessageBodyWire => ({
  to,
  client_id: clientId,
  messages: [{ device_id: 1, body: b64(body) }],
  own: [],
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

function qrImageOf(w: RegisterStartWire): string {
  if (typeof w.qr_png === 'string' && w.qr_png.startsWith('data:image/png;base64,')) return w.qr_png;
  throw new ApiError(0, 'bad_response', 'registration answer has no QR image');
}

export class RelayApi {
  readonly http: HttpClient;

  constructor(options: Omit<HttpOptions, 'refresh'>) {
    this.http = new HttpClient({ ...options, refresh: (token) => this.refresh(token) });
  }

  // ── registration and sessions ─────────────────────────────────────────────────────────

  async register(username: string): Promise<RegistrationStartResult> {
    const w = await this.http.request<RegisterStartWire>('POST', '/register', {
      body: { username },
      auth: false,
    });
    return {
      username: w.username ?? username,
      otpauthUri: w.otpauth_uri,
      secret: w.secret,
      qrImageUrl: qrImageOf(w),
    };
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

  private async refresh(refreshToken: string): Promise<Tokens> {
    const w = await this.http.request<SessionTokensWire>('POST', '/session/refresh', {
      body: { refresh_token: refreshToken },
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
    return { username: w.username, otpauthUri: w.otpauth_uri, secret: w.secret, qrImageUrl: qrImageOf(w) };
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

  uploadKeys(keys: KeysUpload): Promise<KeysUploadResultWire> {
    const body: KeysUploadWire = {};
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
    return this.http.request<KeysUploadResultWire>('POST', '/keys', { body });
  }

  keyStatus(): Promise<KeyStatusWire> {
    return this.http.request<KeyStatusWire>('GET', '/keys');
  }

  async bundle(username: string): Promise<Bundle> {
    const all = await this.http.request<BundleWire>('GET', `/keys/${encodeURIComponent(username)}`);
    // The relay returns one bundle per device (spec/openapi.yaml GET /keys/{username}); until
    // sessions are per device here, the first device's bundle is used.
    const w = all.devices[0];
    if (!w) throw new Error('bundle without a device');
    const out: Bundle = {
      username: all.username,
      identityKey: unb64(all.identity_key, 'identity_key'),
      signedPreKey: signedIn(w.signed_prekey, 'signed_prekey'),
      pqPreKey: { kind: w.pq_prekey.kind, ...signedIn(w.pq_prekey, 'pq_prekey') },
    };
    return w.one_time_prekey
      ? {
          ...out,
          oneTimePreKey: {
            id: w.one_time_prekey.key_id,
            publicKey: unb64(w.one_time_prekey.public_key, 'one_time_prekey'),
          },
        }
      : out;
  }

  /** Identity key and prekey ids only: for key-change checks and safety numbers (spends nothing). */
  async identity(username: string): Promise<Identity> {
    const w = await this.http.request<IdentityWire>('GET', `/identity/${encodeURIComponent(username)}`);
    return {
      username: w.username,
      identityKey: unb64(w.identity_key, 'identity_key'),
      // Per device now (spec/openapi.yaml GET /identity/{username}): the first device's ids.
      signedPreKeyId: w.devices[0]?.signed_prekey_id ?? 0,
      pqPreKeyId: w.devices[0]?.pq_prekey_id ?? 0,
    };
  }

  // ── contacts ──────────────────────────────────────────────────────────────────────────

  addContact(username: string): Promise<ContactWire> {
    return this.http.request<ContactWire>('POST', '/contacts', { body: { username } });
  }

  /** POST /blocks: the relay drops everything this user sends the caller from now on. */
  async block(username: string): Promise<void> {
    await this.http.request<unknown>('POST', '/blocks', { body: { username } });
  }

  async contacts(): Promise<ContactWire[]> {
    return (await this.http.request<ContactListWire>('GET', '/contacts')).contacts;
  }

  removeContact(username: string): Promise<void> {
    return this.http.request<void>('DELETE', `/contacts/${encodeURIComponent(username)}`);
  }

  // ── messages ──────────────────────────────────────────────────────────────────────────

  sendMessage(to: string, clientId: string, body: Uint8Array): Promise<SendMessageResultWire> {
    return this.http.request<SendMessageResultWire>('POST', '/send_message', {
      body: sendMessageBody(to, clientId, body),
    });
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
}
