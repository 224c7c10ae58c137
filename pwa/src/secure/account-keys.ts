// This device's long-term keys (spec/protocol.md §4): the identity key, the signed X25519
// prekey, the last-resort ML-KEM-768 prekey and stocks of one-time X25519 and ML-KEM-768
// prekeys. Secrets stay in the encrypted Storage; only public halves are returned for upload.
// Rotation and deletion of the signed prekeys: prekey-lifecycle.ts.
import { generateIdentity, type IdentityKeyPair } from '@secure-drop/crypto-core/identity';
import { signIdentityProof } from '@secure-drop/crypto-core/identity-proof';
import {
  generateOneTimePqPreKeys,
  generateOneTimePreKeys,
  generatePqPreKey,
  generateSignedPreKey,
  MAX_ONE_TIME_PQ_PREKEY_BATCH,
  MAX_ONE_TIME_PREKEY_BATCH,
} from '@secure-drop/crypto-core/prekeys';
import type { Storage, WriteOp } from '../storage/storage.ts';
import type { DeviceDescription, KeysUpload } from '../transport/api.ts';
import {
  type PendingIds,
  RECORD,
  STORE_FORMAT,
  type StoredIdentity,
  type StoredOneTimePqPreKey,
  type StoredOneTimePreKey,
  type StoredPqPreKey,
  type StoredPrekeyState,
  type StoredSignedPreKey,
} from './records.ts';

/** One-time X25519 prekeys uploaded at registration and at each top-up (relay caps one upload). */
export const ONE_TIME_PREKEY_BATCH = Math.min(100, MAX_ONE_TIME_PREKEY_BATCH);
/** One-time ML-KEM-768 prekeys per upload (crypto-core's batch bound, the relay's per-upload cap). */
export const ONE_TIME_PQ_PREKEY_BATCH = Math.min(100, MAX_ONE_TIME_PQ_PREKEY_BATCH);
/**
 * Most unused one-time secrets of a kind this device keeps: a few times the stock a relay holds
 * (500 X25519 and 200 ML-KEM-768 prekeys per device, relay/src/keys/limits.ts). A relay that
 * kept saying the stock runs low (prekeys_low) made the device store another batch every time,
 * without end. The secrets held are those of the relay's stock and of prekeys it handed out that
 * no first message used (anyone may fetch bundles); past the cap the oldest go, which the relay
 * handed out first (spec/protocol.md §4.7).
 */
export const MAX_HELD_ONE_TIME = { x25519: 1_200, mlkem: 500 } as const;

/**
 * Creates and stores a fresh identity with its prekeys; returns the public halves to upload,
 * with the identity proof for `username` — the account's name as the relay spells it
 * (spec/protocol.md §4.6).
 */
export async function createAccountKeys(
  storage: Storage,
  username: string,
  now: number = Date.now(),
  /** A linked device's identity (from the provisioning payload); default: a new one. */
  keyPair: IdentityKeyPair = generateIdentity(),
): Promise<KeysUpload> {
  const spk = generateSignedPreKey(keyPair, 1);
  const pq = generatePqPreKey(keyPair, 1);
  const opks = generateOneTimePreKeys(1, ONE_TIME_PREKEY_BATCH);
  const opqs = generateOneTimePqPreKeys(keyPair, 1, ONE_TIME_PQ_PREKEY_BATCH);
  const state: StoredPrekeyState = {
    identityUploaded: false,
    signedPreKeyId: spk.id,
    pqPreKeyId: pq.id,
    rotatedAt: now,
    uploaded: false,
    retired: [],
    nextOneTimeId: 1 + opks.length,
    nextOneTimePqId: 1 + opqs.length,
    pendingOneTime: { from: 1, to: 1 + opks.length },
    pendingOneTimePq: { from: 1, to: 1 + opqs.length },
  };
  const identity: StoredIdentity = { username, keyPair };
  const ops: WriteOp[] = [
    { kind: 'put', key: RECORD.format, value: STORE_FORMAT },
    { kind: 'put', key: RECORD.identity, value: identity },
    { kind: 'put', key: RECORD.signedPreKey(spk.id), value: spk satisfies StoredSignedPreKey },
    { kind: 'put', key: RECORD.pqPreKey(pq.id), value: pq satisfies StoredPqPreKey },
    { kind: 'put', key: RECORD.prekeyState, value: state },
    ...opks.map((k): WriteOp => ({ kind: 'put', key: RECORD.oneTimePreKey(k.id), value: k })),
    ...opqs.map((k): WriteOp => ({ kind: 'put', key: RECORD.oneTimePqPreKey(k.id), value: k })),
  ];
  await storage.write(ops, { durability: 'strict' });
  return {
    identityKey: keyPair.publicKey,
    identityProof: signIdentityProof(keyPair, username),
    signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    pqPreKey: { id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
    oneTimePreKeys: opks.map((k) => ({ id: k.id, publicKey: k.publicKey })),
    oneTimePqPreKeys: opqs.map((k) => ({ id: k.id, publicKey: k.publicKey, signature: k.signature })),
  };
}

/**
 * Records that the upload createAccountKeys returned was accepted by the relay (identity,
 * signed prekeys and the first one-time batches), so no maintenance run repeats it.
 */
async function markAccountKeysPublished(
  storage: Storage,
  now: number = Date.now(),
  deviceId: number | null = null,
  resumeSecret: Uint8Array | null = null,
): Promise<void> {
  const state = await loadPrekeyState(storage);
  const next: StoredPrekeyState = {
    ...state,
    identityUploaded: true,
    uploaded: true,
    rotatedAt: state.uploaded ? state.rotatedAt : Math.min(state.rotatedAt, now),
    pendingOneTime: null,
    pendingOneTimePq: null,
  };
  const ops: WriteOp[] = [{ kind: 'put', key: RECORD.prekeyState, value: next }];
  if (deviceId !== null) ops.push({ kind: 'put', key: RECORD.deviceId, value: deviceId });
  if (resumeSecret !== null) ops.push({ kind: 'put', key: RECORD.resumeSecret, value: resumeSecret });
  await storage.write(ops, { durability: 'strict' });
}

/** What the key uploads need from the relay: POST /keys, whose answer names the device. */
export interface KeyUploader {
  uploadKeys(keys: KeysUpload): Promise<unknown>;
}

/** The device id in POST /keys' answer (api.ts KeysUploadResult), if any. */
const deviceIdOf = (answer: unknown): number | null => {
  const id = (answer as { deviceId?: unknown } | null)?.deviceId;
  return typeof id === 'number' && Number.isInteger(id) && id >= 1 ? id : null;
};

/** The resume secret in POST /keys' answer (api.ts KeysUploadResult), when the relay issued one. */
const resumeSecretOf = (answer: unknown): Uint8Array | null => {
  const s = (answer as { resumeSecret?: unknown } | null)?.resumeSecret;
  return s instanceof Uint8Array && s.length === 32 ? s : null;
};

/**
 * Creates the account keys, uploads them and records the upload and the device id the relay
 * gave this device (registration, START OVER — spec §16).
 */
export async function publishAccountKeys(
  storage: Storage,
  username: string,
  server: KeyUploader,
  now: number = Date.now(),
  device?: DeviceDescription,
): Promise<void> {
  const keys = await createAccountKeys(storage, username, now);
  const answer = await server.uploadKeys(device ? { ...keys, device } : keys);
  await markAccountKeysPublished(storage, now, deviceIdOf(answer), resumeSecretOf(answer));
}

/**
 * Uploads the prekeys of an identity this store already holds (a LINKED device: the identity
 * came in the provisioning payload, spec §16 step 4): a new device of the account — no key
 * change for anyone. Records the device id.
 */
export async function publishDeviceKeys(
  storage: Storage,
  username: string,
  keyPair: IdentityKeyPair,
  server: KeyUploader,
  device: DeviceDescription,
  now: number = Date.now(),
): Promise<number | null> {
  const keys = await createAccountKeys(storage, username, now, keyPair);
  const answer = await server.uploadKeys({ ...keys, device });
  const deviceId = deviceIdOf(answer);
  await markAccountKeysPublished(storage, now, deviceId, resumeSecretOf(answer));
  return deviceId;
}

/** This device's id (RECORD.deviceId), if the relay gave it one. */
export async function loadDeviceId(storage: Storage): Promise<number | undefined> {
  return storage.get<number>(RECORD.deviceId);
}

/**
 * RESUME (spec §16.9): a login on a device whose store holds the account's identity key binds
 * the new, device-less session to this device — POST /keys {identity_key, identity_proof,
 * device_id, resume_secret}. A store from before linked devices has no id: it was its account's
 * only device, which the relay made device 1. A store from before resume secrets has none: the
 * relay then issues one (kept here). The relay answers 409 `device_removed` when this device was
 * unlinked, 403 `resume_refused` without the right secret (the caller shows both alike: erase,
 * or link again).
 */
export async function resumeDevice(storage: Storage, server: KeyUploader): Promise<number> {
  const id = await loadIdentity(storage);
  if (!id) throw new Error('no identity key on this device');
  const deviceId = (await loadDeviceId(storage)) ?? 1;
  const resumeSecret = await storage.get<Uint8Array>(RECORD.resumeSecret);
  const answer = await server.uploadKeys({
    deviceId,
    ...(resumeSecret ? { resumeSecret } : {}),
    identityKey: id.keyPair.publicKey,
    identityProof: signIdentityProof(id.keyPair, id.username),
  });
  const given = deviceIdOf(answer) ?? deviceId;
  const issued = resumeSecretOf(answer);
  const ops: WriteOp[] = [{ kind: 'put', key: RECORD.deviceId, value: given }];
  if (issued) ops.push({ kind: 'put', key: RECORD.resumeSecret, value: issued });
  await storage.write(ops, { durability: 'strict' });
  return given;
}

export async function loadIdentity(storage: Storage): Promise<StoredIdentity | undefined> {
  return storage.get<StoredIdentity>(RECORD.identity);
}

export async function requireIdentity(storage: Storage): Promise<IdentityKeyPair> {
  const id = await loadIdentity(storage);
  if (!id) throw new Error('no identity key on this device');
  return id.keyPair;
}

export async function loadPrekeyState(storage: Storage): Promise<StoredPrekeyState> {
  const state = await storage.get<StoredPrekeyState>(RECORD.prekeyState);
  if (!state) throw new Error('no prekey state on this device');
  return state;
}

const idsOf = (p: PendingIds) => Array.from({ length: p.to - p.from }, (_, i) => p.from + i);

/**
 * The one-time prekeys that were generated and stored but whose upload was not accepted yet
 * (a failed upload keeps them: they are uploaded again, never regenerated).
 */
export async function pendingOneTimeUpload(storage: Storage, state: StoredPrekeyState): Promise<KeysUpload> {
  const upload: {
    oneTimePreKeys?: KeysUpload['oneTimePreKeys'];
    oneTimePqPreKeys?: KeysUpload['oneTimePqPreKeys'];
  } = {};
  if (state.pendingOneTime) {
    const keys = await Promise.all(idsOf(state.pendingOneTime).map((id) => loadOneTimePreKey(storage, id)));
    upload.oneTimePreKeys = keys
      .filter((k): k is StoredOneTimePreKey => k !== undefined)
      .map((k) => ({ id: k.id, publicKey: k.publicKey }));
  }
  if (state.pendingOneTimePq) {
    const keys = await Promise.all(
      idsOf(state.pendingOneTimePq).map((id) => loadOneTimePqPreKey(storage, id)),
    );
    upload.oneTimePqPreKeys = keys
      .filter((k): k is StoredOneTimePqPreKey => k !== undefined)
      .map((k) => ({ id: k.id, publicKey: k.publicKey, signature: k.signature }));
  }
  return upload;
}

/**
 * Generates the next batch of one-time prekeys of `kind` (the relay said that stock runs low)
 * and stores the secrets — marked pending upload — before anything is sent.
 */
export async function newOneTimePreKeys(
  storage: Storage,
  kind: 'x25519' | 'mlkem',
  count = kind === 'x25519' ? ONE_TIME_PREKEY_BATCH : ONE_TIME_PQ_PREKEY_BATCH,
  /**
   * Whether secrets past MAX_HELD_ONE_TIME may go to make room: only once the mailbox is read to
   * the end, so that no first message waiting there names one (as for signed prekeys, §4.7).
   * Without it, a full stock makes no batch.
   */
  evict = false,
): Promise<void> {
  const state = await loadPrekeyState(storage);
  // The batch waiting for upload comes first (publishPendingOneTime).
  if (kind === 'x25519' ? state.pendingOneTime : state.pendingOneTimePq) return;
  const held = await storage.list<{ id: number }>(
    kind === 'x25519' ? RECORD.oneTimePreKeyPrefix : RECORD.oneTimePqPreKeyPrefix,
  );
  const over = held.length + count - MAX_HELD_ONE_TIME[kind];
  if (over > 0 && !evict) return;
  const oldest = [...held]
    .sort((a, b) => a.value.id - b.value.id)
    .slice(0, Math.max(0, over))
    .map((r): WriteOp => ({ kind: 'delete', key: r.key }));
  let next: StoredPrekeyState;
  let batch: WriteOp[];
  if (kind === 'x25519') {
    const opks = generateOneTimePreKeys(state.nextOneTimeId, count);
    next = {
      ...state,
      nextOneTimeId: state.nextOneTimeId + count,
      pendingOneTime: { from: state.nextOneTimeId, to: state.nextOneTimeId + count },
    };
    batch = opks.map((k) => ({ kind: 'put', key: RECORD.oneTimePreKey(k.id), value: k }));
  } else {
    const opqs = generateOneTimePqPreKeys(await requireIdentity(storage), state.nextOneTimePqId, count);
    next = {
      ...state,
      nextOneTimePqId: state.nextOneTimePqId + count,
      pendingOneTimePq: { from: state.nextOneTimePqId, to: state.nextOneTimePqId + count },
    };
    batch = opqs.map((k) => ({ kind: 'put', key: RECORD.oneTimePqPreKey(k.id), value: k }));
  }
  await storage.write([...oldest, { kind: 'put', key: RECORD.prekeyState, value: next }, ...batch], {
    durability: 'strict',
  });
}

export function loadSignedPreKey(storage: Storage, id: number) {
  return storage.get<StoredSignedPreKey>(RECORD.signedPreKey(id));
}
export function loadPqPreKey(storage: Storage, id: number) {
  return storage.get<StoredPqPreKey>(RECORD.pqPreKey(id));
}
export function loadOneTimePreKey(storage: Storage, id: number) {
  return storage.get<StoredOneTimePreKey>(RECORD.oneTimePreKey(id));
}
export function loadOneTimePqPreKey(storage: Storage, id: number) {
  return storage.get<StoredOneTimePqPreKey>(RECORD.oneTimePqPreKey(id));
}
