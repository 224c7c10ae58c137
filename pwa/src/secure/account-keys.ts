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
import type { KeysUpload } from '../transport/api.ts';
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
 * Creates and stores a fresh identity with its prekeys; returns the public halves to upload,
 * with the identity proof for `username` — the account's name as the relay spells it
 * (spec/protocol.md §4.6).
 */
export async function createAccountKeys(
  storage: Storage,
  username: string,
  now: number = Date.now(),
  /** The account's existing identity key, on a device being linked (spec/protocol.md §16). */
  existing?: IdentityKeyPair,
): Promise<KeysUpload> {
  const keyPair = existing ?? generateIdentity();
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
async function markAccountKeysPublished(storage: Storage, now: number = Date.now()): Promise<void> {
  const state = await loadPrekeyState(storage);
  const next: StoredPrekeyState = {
    ...state,
    identityUploaded: true,
    uploaded: true,
    rotatedAt: state.uploaded ? state.rotatedAt : Math.min(state.rotatedAt, now),
    pendingOneTime: null,
    pendingOneTimePq: null,
  };
  await storage.write([{ kind: 'put', key: RECORD.prekeyState, value: next }], { durability: 'strict' });
}

/** Creates the account keys, uploads them and records the upload (registration, a new device). */
export async function publishAccountKeys(
  storage: Storage,
  username: string,
  server: { uploadKeys(keys: KeysUpload): Promise<unknown> },
  now: number = Date.now(),
): Promise<void> {
  await server.uploadKeys(await createAccountKeys(storage, username, now));
  await markAccountKeysPublished(storage, now);
}

/**
 * A LINKED device's keys (spec/protocol.md §16 step 4): the account's identity key from the
 * provisioning payload, this device's own signed, last-resort and one-time prekeys, uploaded
 * with the device's description — the relay then creates a device (same identity key: a link,
 * no key change to anyone). Returns the relay's answer (its `device_id`).
 */
export async function publishLinkedDeviceKeys<R>(
  storage: Storage,
  username: string,
  keyPair: IdentityKeyPair,
  device: NonNullable<KeysUpload['device']>,
  server: { uploadKeys(keys: KeysUpload): Promise<R> },
  now: number = Date.now(),
): Promise<R> {
  const keys = await createAccountKeys(storage, username, now, keyPair);
  const answer = await server.uploadKeys({ ...keys, device });
  await markAccountKeysPublished(storage, now);
  return answer;
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
): Promise<void> {
  const state = await loadPrekeyState(storage);
  if (kind === 'x25519') {
    if (state.pendingOneTime) return; // the batch waiting for upload comes first
    const opks = generateOneTimePreKeys(state.nextOneTimeId, count);
    const next: StoredPrekeyState = {
      ...state,
      nextOneTimeId: state.nextOneTimeId + count,
      pendingOneTime: { from: state.nextOneTimeId, to: state.nextOneTimeId + count },
    };
    await storage.write(
      [
        { kind: 'put', key: RECORD.prekeyState, value: next },
        ...opks.map((k): WriteOp => ({ kind: 'put', key: RECORD.oneTimePreKey(k.id), value: k })),
      ],
      { durability: 'strict' },
    );
    return;
  }
  if (state.pendingOneTimePq) return;
  const identity = await requireIdentity(storage);
  const opqs = generateOneTimePqPreKeys(identity, state.nextOneTimePqId, count);
  const next: StoredPrekeyState = {
    ...state,
    nextOneTimePqId: state.nextOneTimePqId + count,
    pendingOneTimePq: { from: state.nextOneTimePqId, to: state.nextOneTimePqId + count },
  };
  await storage.write(
    [
      { kind: 'put', key: RECORD.prekeyState, value: next },
      ...opqs.map((k): WriteOp => ({ kind: 'put', key: RECORD.oneTimePqPreKey(k.id), value: k })),
    ],
    { durability: 'strict' },
  );
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
