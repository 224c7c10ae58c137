/**
 * @secure-drop/crypto-core has no root entry point on purpose: import the subpath you
 * need, so the public surface is the list below (package.json "exports") and bundles
 * carry only what they use. Every failure is a CryptoCoreError (`/errors`).
 *
 * Protocol (spec/protocol.md §4–§9):
 * - `@secure-drop/crypto-core/identity` — Ed25519 identity keys, strict signatures.
 * - `@secure-drop/crypto-core/identity-proof` — the identity key's proof of possession for the relay (§4.6).
 * - `@secure-drop/crypto-core/prekeys` — signed X25519 and last-resort ML-KEM-768 prekeys,
 *   one-time X25519 and one-time ML-KEM-768 prekeys.
 * - `@secure-drop/crypto-core/bundle` — the prekey bundle encoding and its verification.
 * - `@secure-drop/crypto-core/session` — initiateSession, acceptSession, encryptMessage,
 *   decryptMessage, parseInitialMessage, replayRecordOf, messageKind, isSiblingSession
 *   (protocol version 2).
 * - `@secure-drop/crypto-core/session-codec` — serializeSession / deserializeSession.
 * - `@secure-drop/crypto-core/session-limits` — MAX_SKIP and the other bounds (§12).
 *
 * Devices (§16): `/sync` — encodeSync / decodeSync, the body of a sync copy (content type
 * `sync`, carried only by sibling sessions: `sibling: true` in the accounts of
 * initiateSession / acceptSession); `/provisioning` — createLinkRequest, encodeLinkUri /
 * decodeLinkUri, sealProvisioning / openProvisioning (linking a new device).
 *
 * Photos and safety numbers (§10–§11): `/photo`, `/photo-metadata`, `/chunked`,
 * `/safety-number`, `/kdf`. Padding (§9.1, §10.2): `/padding`.
 *
 * @example
 * import { initiateSession, encryptMessage } from '@secure-drop/crypto-core/session';
 */
export {};
