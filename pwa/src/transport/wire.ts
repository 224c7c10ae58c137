// Request and response bodies of the relay API, as sent on the wire (snake_case, base64
// bytes). Source of truth: spec/openapi.yaml. `npm run gen:api -w pwa` regenerates
// src/transport/openapi.d.ts from it; the shapes below come from there where the spec
// already describes them, and are written from relay/src/**/routes.ts where it does not yet.
import type { components } from './openapi.d.ts';

type Schemas = components['schemas'];

/** POST /login, /session/refresh answer (spec: Session). */
export type SessionTokensWire = Schemas['Session'];

/** POST /register answer (spec: Registration). */
export type RegisterStartWire = Schemas['Registration'];

/** POST /register/confirm answer. */
export type RegisterConfirmWire = Schemas['Session'] & { recovery_codes: Schemas['RecoveryCode'][] };

export interface SignedKeyWire {
  key_id: number;
  public_key: string;
  signature: string;
}

export interface OneTimeKeyWire {
  key_id: number;
  public_key: string;
}

export interface KeysUploadWire {
  identity_key?: string;
  signed_prekey?: SignedKeyWire;
  pq_prekey?: SignedKeyWire;
  one_time_prekeys?: OneTimeKeyWire[];
}

export interface KeysUploadResultWire {
  identity_changed: boolean;
  one_time_prekeys: number;
  prekeys_low: boolean;
}

export interface KeyStatusWire {
  identity_key: string | null;
  signed_prekey_id: number | null;
  pq_prekey_id: number | null;
  one_time_prekeys: number;
  prekeys_low: boolean;
}

export interface BundleWire {
  username: string;
  identity_key: string;
  signed_prekey: SignedKeyWire;
  pq_prekey: SignedKeyWire;
  one_time_prekey: OneTimeKeyWire | null;
}

export interface ContactWire {
  username: string;
  added_at: string;
}

export interface SendMessageResultWire {
  id: number;
  created_at: string;
  duplicate: boolean;
}

export interface EnvelopeWire {
  id: number;
  seq: number;
  sender: string;
  body: string;
  created_at: string;
}

export interface MessagesPageWire {
  messages: EnvelopeWire[];
  next_cursor: number;
  has_more: boolean;
}

export interface AckResultWire {
  acked: number;
  photos_acked: number;
}

export interface PhotoUploadResultWire {
  id: string;
}

/** Items of a user's stream, pushed over the WebSocket in seq order (relay/src/messages/stream.ts). */
export type StreamItemWire =
  | { type: 'message'; seq: number; id: number; from: string; body: string; created_at: string }
  | { type: 'key_change'; seq: number; username: string; created_at: string }
  | { type: 'delivered'; seq: number; message_id: number; client_id: string; to: string; created_at: string };
