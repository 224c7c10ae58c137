// Limits of linked devices and of provisioning (spec/protocol.md §16, DEVICES design): named here
// once, used by the routes, the store and the migration's CHECKs (0070_devices.sql).

/** Active devices per account unless DEVICE_LIMIT says otherwise (Signal's linked-device cap is similar). */
export const DEFAULT_DEVICE_LIMIT = 5;
/** device_id is chosen by the relay: 1 … 2^31 − 1, per account, never reused. */
export const MAX_DEVICE_ID = 0x7fff_ffff;
/** A device name is client-chosen ("Chromium on Linux"): 1–64 printable characters. */
export const MAX_DEVICE_NAME_CHARS = 64;
export const DEVICE_KINDS = ['phone', 'tablet', 'desktop', 'other'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

/** A provisioning address expires this long after its creation. */
export const PROVISIONING_TTL_SECONDS = 300;
/** The sealed provisioning message (contacts and recent history included): at most 8 MiB. */
export const MAX_PROVISIONING_BYTES = 8 * 1024 * 1024;
/** Open (unexpired) provisioning addresses per account. */
export const MAX_OPEN_PROVISIONING = 3;
/** Address: 16 random bytes, base64url without padding (22 characters). */
export const PROVISIONING_ADDRESS_BYTES = 16;
/** The ML-KEM-768 encapsulation key of the new device (1,184 bytes); bounded like other PQ keys. */
export const MAX_PROVISIONING_PQ_KEY_BYTES = 1600;
/** Device ids accepted in one ?device_ids= list (GET /keys/{username}, more than any account may hold). */
export const MAX_DEVICE_IDS_PER_QUERY = 16;
/**
 * Requests to the provisioning routes per account (token bucket, src/limits/token-bucket.ts): a
 * new device polls for its message at most every 2 s (spec/protocol.md §16), half this rate;
 * the burst covers opening, reading and delivering around it.
 */
export const PROVISIONING_BUCKET = { name: 'provisioning', burst: 60, perSecond: 1 } as const;
