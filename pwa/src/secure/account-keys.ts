// This device's long-term keys (spec/protocol.md §4): the identity key, the signed X25519
// prekey, the signed ML-KEM-768 prekey and a stock of one-time prekeys. Secrets stay in the
// encrypted Storage; only public halves are returned for upload.
import { generateIdentity, type IdentityKeyPair } from '@secure-drop/crypto-core/identity';
import { signIdentityProof } from '@secure-drop/crypto-core/identity-proof';
import {
  generateOneTimePreKeys,
  generatePqPreKey,
  generateSignedPreKey,
  MAX_ONE_TIME_PREKEY_BATCH,
} from '@secure-drop/crypto-core/prekeys';
import type { Storage, WriteOp } from '../storage/storage.ts';
import type { KeysUpload } from '../transport/api.ts';
import {
  RECORD,
  type StoredIdentity,
  type StoredOneTimePreKey,
  type StoredPqPreKey,
  type StoredPrekeyState,
  type StoredSignedPreKey,
} from './records.ts';

/** One-time prekeys uploaded at registration and at each top-up (relay caps one upload at 200). */
export const ONE_TIME_PREKEY_BATCH = Math.min(100, MAX_ONE_TIME_PREKEY_BATCH);

/**
 * Creates and stores a fresh identity with its prekeys; returns the public halves to upload,
 * with the identity proof for `username` — the account's name as the relay spells it
 * (spec/protocol.md §4.6).
 */
export async function createAccountKeys(storage: Storage, username: string): Promise<KeysUpload> {
  const keyPair = generateIdentity();
  const spk = generateSignedPreKey(keyPair, 1);
  const pq = generatePqPreKey(keyPair, 1);
  const opks = generateOneTimePreKeys(1, ONE_TIME_PREKEY_BATCH);
  const state: StoredPrekeyState = {
    signedPreKeyId: spk.id,
    pqPreKeyId: pq.id,
    nextOneTimeId: 1 + opks.length,
  };
  const identity: StoredIdentity = { username, keyPair };
  const ops: WriteOp[] = [
    { kind: 'put', key: RECORD.identity, value: identity },
    { kind: 'put', key: RECORD.signedPreKey(spk.id), value: spk satisfies StoredSignedPreKey },
    { kind: 'put', key: RECORD.pqPreKey(pq.id), value: pq satisfies StoredPqPreKey },
    { kind: 'put', key: RECORD.prekeyState, value: state },
    ...opks.map((k): WriteOp => ({ kind: 'put', key: RECORD.oneTimePreKey(k.id), value: k })),
  ];
  await storage.write(ops);
  return {
    identityKey: keyPair.publicKey,
    identityProof: signIdentityProof(keyPair, username),
    signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    pqPreKey: { id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
    oneTimePreKeys: opks.map((k) => ({ id: k.id, publicKey: k.publicKey })),
  };
}

export async function loadIdentity(storage: Storage): Promise<StoredIdentity | undefined> {
  return storage.get<StoredIdentity>(RECORD.identity);
}

export async function requireIdentity(storage: Storage): Promise<IdentityKeyPair> {
  const id = await loadIdentity(storage);
  if (!id) throw new Error('no identity key on this device');
  return id.keyPair;
}

/** Generates the next batch of one-time prekeys (relay said the stock runs low); stores secrets first. */
export async function newOneTimePreKeys(
  storage: Storage,
  count = ONE_TIME_PREKEY_BATCH,
): Promise<KeysUpload> {
  const state = await storage.get<StoredPrekeyState>(RECORD.prekeyState);
  if (!state) throw new Error('no prekey state on this device');
  const opks = generateOneTimePreKeys(state.nextOneTimeId, count);
  await storage.write([
    { kind: 'put', key: RECORD.prekeyState, value: { ...state, nextOneTimeId: state.nextOneTimeId + count } },
    ...opks.map((k): WriteOp => ({ kind: 'put', key: RECORD.oneTimePreKey(k.id), value: k })),
  ]);
  return { oneTimePreKeys: opks.map((k) => ({ id: k.id, publicKey: k.publicKey })) };
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
