// The PROVISIONING PAYLOAD (spec/protocol.md §16, spec/provisioning.schema.json): what an
// existing device hands a device it links — the account's name, the identity key's seed, the
// contacts with their trusted keys and verified marks, and optionally the recent history. It
// travels only inside the provisioning cipher (crypto-core sealProvisioning), so the relay never
// reads it. The receiver parses it strictly: every field checked, nothing unknown accepted, a
// limit on every count and length, as the schema says — a payload that does not validate links
// nothing.
import { base64 } from '@scure/base';
import { MAX_REFUSED_KEYS } from '../secure/records.ts';
import { USERNAME_PATTERN } from '../views/username-rule.generated.ts';

/** spec/protocol.md §16: the sealed payload is at most 8 MiB (MAX_PROVISIONING_BYTES). */
export const MAX_PROVISIONING_BYTES = 8 * 1024 * 1024;
/** Recent history offered per chat ("last 200 messages per chat"). */
export const HISTORY_PER_CHAT = 200;
/** Contacts a payload may carry (a bound for the parser; far above any real address book). */
export const MAX_CONTACTS = 10_000;
/** A history text's length bound (spec/provisioning.schema.json HistoryMessage.text maxLength). */
export const MAX_HISTORY_TEXT = 61_423;
/** All history entries of a payload (the schema's maxItems). */
export const MAX_HISTORY = 200_000;

/** Exactly 32 bytes in canonical padded base64 (the schema's Base64Of32). */
const B64_32 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export interface PayloadContact {
  readonly username: string;
  /** The identity key this account last accepted for the contact. */
  readonly identityKey: Uint8Array;
  /** Whether `identityKey` was verified (a pending key change does not undo it). */
  readonly verified: boolean;
  /** Keys the user refused for this contact, newest first (StoredPeer.refusedKeys). */
  readonly refusedKeys: readonly Uint8Array[];
  /** False: a message request the user has not accepted yet. */
  readonly accepted: boolean;
  readonly blocked: boolean;
}

export interface PayloadMessage {
  readonly peer: string;
  readonly fromMe: boolean;
  /** The sender's clock (ms since the epoch), as stored with the message. */
  readonly sentAt: number;
  /** spec/protocol.md §9.1 order within the conversation (from 1). */
  readonly order: number;
  /** Null for a photo message: photos are not transferred. */
  readonly text: string | null;
}

export interface ProvisioningPayload {
  readonly username: string;
  /** The 32-byte Ed25519 seed of the account's identity key (spec/protocol.md §4.1). */
  readonly identitySeed: Uint8Array;
  readonly contacts: readonly PayloadContact[];
  readonly history: readonly PayloadMessage[];
}

/** The payload is not a valid provisioning payload (the message says which field, never a value). */
export class PayloadError extends Error {
  constructor(where: string) {
    super(`invalid provisioning payload: ${where}`);
    this.name = 'PayloadError';
  }
}

const b64 = (bytes: Uint8Array) => base64.encode(bytes);

/** The payload as the UTF-8 JSON bytes the schema describes. */
export function encodePayload(p: ProvisioningPayload): Uint8Array {
  const json = {
    v: 1,
    username: p.username,
    identity_seed: b64(p.identitySeed),
    contacts: p.contacts.map((c) => ({
      username: c.username,
      identity_key: b64(c.identityKey),
      verified: c.verified,
      ...(c.refusedKeys.length ? { refused_keys: c.refusedKeys.map(b64) } : {}),
      accepted: c.accepted,
      blocked: c.blocked,
    })),
    history: p.history.map((m) => ({
      peer: m.peer,
      from_me: m.fromMe,
      sent_at: m.sentAt,
      order: m.order,
      text: m.text,
      photo: null,
    })),
    lock_hint: null,
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

/**
 * Encodes the payload within MAX_PROVISIONING_BYTES (less the cipher's overhead): when the
 * history makes it too large, fewer messages per chat are sent (the newest kept) until it fits.
 */
export function encodePayloadWithin(p: ProvisioningPayload, max = MAX_PROVISIONING_BYTES - 2048): Uint8Array {
  let perChat = HISTORY_PER_CHAT;
  for (;;) {
    const history = perChat === HISTORY_PER_CHAT ? p.history : newestPerChat(p.history, perChat);
    const bytes = encodePayload({ ...p, history });
    if (bytes.length <= max) return bytes;
    if (perChat === 0) throw new PayloadError('too large');
    perChat = Math.floor(perChat / 2);
  }
}

function newestPerChat(history: readonly PayloadMessage[], n: number): PayloadMessage[] {
  const byPeer = new Map<string, PayloadMessage[]>();
  for (const m of history) {
    const list = byPeer.get(m.peer) ?? [];
    list.push(m);
    byPeer.set(m.peer, list);
  }
  return [...byPeer.values()].flatMap((list) => (n === 0 ? [] : list.slice(-n)));
}

type Json = Record<string, unknown>;

function object(v: unknown, where: string, keys: readonly string[], optional: readonly string[] = []): Json {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new PayloadError(where);
  const o = v as Json;
  for (const k of Object.keys(o))
    if (!keys.includes(k) && !optional.includes(k)) throw new PayloadError(`${where}.${k}`);
  for (const k of keys) if (!(k in o)) throw new PayloadError(`${where}.${k}`);
  return o;
}

/** At most MAX_REFUSED_KEYS distinct keys, none of them the trusted one; absent is none. */
function refusedKeys(v: unknown, trusted: Uint8Array, where: string): Uint8Array[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length < 1 || v.length > MAX_REFUSED_KEYS) throw new PayloadError(where);
  const seen = new Set<string>([base64.encode(trusted)]);
  return v.map((k, i) => {
    const key = key32(k, `${where}[${i}]`);
    if (seen.has(k as string)) throw new PayloadError(`${where}[${i}]`);
    seen.add(k as string);
    return key;
  });
}

function bool(v: unknown, where: string): boolean {
  if (typeof v !== 'boolean') throw new PayloadError(where);
  return v;
}

function username(v: unknown, where: string): string {
  if (typeof v !== 'string' || !USERNAME_PATTERN.test(v)) throw new PayloadError(where);
  return v;
}

function key32(v: unknown, where: string): Uint8Array {
  if (typeof v !== 'string' || !B64_32.test(v)) throw new PayloadError(where);
  return base64.decode(v);
}

function int(v: unknown, where: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new PayloadError(where);
  return v;
}

/**
 * Parses and validates the opened payload bytes (spec/provisioning.schema.json): strict UTF-8
 * JSON, version 1, no unknown field, canonical usernames, canonical 32-byte keys, bounded counts;
 * beyond the schema (spec/protocol.md §16.8): each contact once and never the account itself, at
 * most HISTORY_PER_CHAT messages per chat and only for listed contacts. Throws PayloadError.
 */
export function parsePayload(bytes: Uint8Array): ProvisioningPayload {
  if (bytes.length > MAX_PROVISIONING_BYTES) throw new PayloadError('size');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new PayloadError('json');
  }
  const o = object(json, 'payload', ['v', 'username', 'identity_seed', 'contacts', 'lock_hint'], ['history']);
  if (o.v !== 1) throw new PayloadError('payload.v');
  if (o.lock_hint !== null) throw new PayloadError('payload.lock_hint');
  const name = username(o.username, 'payload.username');
  const identitySeed = key32(o.identity_seed, 'payload.identity_seed');
  if (!Array.isArray(o.contacts) || o.contacts.length > MAX_CONTACTS)
    throw new PayloadError('payload.contacts');
  const seen = new Set<string>();
  const contacts = o.contacts.map((raw, i): PayloadContact => {
    const where = `contacts[${i}]`;
    const c = object(
      raw,
      where,
      ['username', 'identity_key', 'verified', 'accepted', 'blocked'],
      ['refused_keys'],
    );
    const u = username(c.username, `${where}.username`);
    if (u === name || seen.has(u)) throw new PayloadError(`${where}.username`);
    seen.add(u);
    const identityKey = key32(c.identity_key, `${where}.identity_key`);
    return {
      username: u,
      identityKey,
      verified: bool(c.verified, `${where}.verified`),
      refusedKeys: refusedKeys(c.refused_keys, identityKey, `${where}.refused_keys`),
      accepted: bool(c.accepted, `${where}.accepted`),
      blocked: bool(c.blocked, `${where}.blocked`),
    };
  });
  const rawHistory = o.history === undefined ? [] : o.history;
  if (!Array.isArray(rawHistory) || rawHistory.length > MAX_HISTORY)
    throw new PayloadError('payload.history');
  const perChat = new Map<string, number>();
  const history = rawHistory.map((raw, i): PayloadMessage => {
    const where = `history[${i}]`;
    const m = object(raw, where, ['peer', 'from_me', 'sent_at', 'order', 'text', 'photo']);
    const peer = username(m.peer, `${where}.peer`);
    if (!seen.has(peer)) throw new PayloadError(`${where}.peer`);
    const count = (perChat.get(peer) ?? 0) + 1;
    if (count > HISTORY_PER_CHAT) throw new PayloadError(`${where}.peer`);
    perChat.set(peer, count);
    // Photos are not transferred (spec/protocol.md §16.8): `photo` is null, a photo's text too.
    if (m.photo !== null) throw new PayloadError(`${where}.photo`);
    if (m.text !== null && (typeof m.text !== 'string' || m.text.length > MAX_HISTORY_TEXT))
      throw new PayloadError(`${where}.text`);
    return {
      peer,
      fromMe: bool(m.from_me, `${where}.from_me`),
      sentAt: int(m.sent_at, `${where}.sent_at`, 0, Number.MAX_SAFE_INTEGER),
      order: int(m.order, `${where}.order`, 1, Number.MAX_SAFE_INTEGER),
      text: m.text,
    };
  });
  return { username: name, identitySeed, contacts, history };
}
