// The signed prekeys' lifecycle on this device (spec/protocol.md §4.7):
// a new signed X25519 prekey and a new last-resort ML-KEM-768 prekey every
// PREKEY_ROTATION_INTERVAL_MS (ids only grow; the relay refuses an id that goes backwards),
// uploaded; the secrets of a replaced pair are deleted RETIRED_PREKEY_GRACE_MS after the relay
// stopped handing it out — together with the replay records of the initial messages that used
// it, which are needed only while such a message could still be accepted. Forward secrecy of
// a first message sent without a one-time prekey therefore begins at most
// rotation + grace = 9 days after it was sent.
//
// Everything new is stored (strict durability) before it is uploaded, and marked uploaded only
// once the relay accepted it: a failed upload loses nothing and is repeated on the next run.
// The clock is injected (`now`), so tests drive the schedule.
import { signIdentityProof } from '@secure-drop/crypto-core/identity-proof';
import { generatePqPreKey, generateSignedPreKey } from '@secure-drop/crypto-core/prekeys';
import type { Storage, WriteOp } from '../storage/storage.ts';
import type { KeysUpload } from '../transport/api.ts';
import { ApiError } from '../transport/errors.ts';
import {
  loadIdentity,
  loadPqPreKey,
  loadPrekeyState,
  loadSignedPreKey,
  pendingOneTimeUpload,
  requireIdentity,
} from './account-keys.ts';
import { RECORD, type StoredPrekeyState } from './records.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** spec/protocol.md §4.7: a new signed X25519 + last-resort ML-KEM prekey pair every 2 days. */
export const PREKEY_ROTATION_INTERVAL_MS = 2 * DAY_MS;
/**
 * spec/protocol.md §4.7: a replaced pair's secrets are kept 7 days after its successor was
 * published, for first messages still in flight (a contact offline for a week, the relay's queue).
 */
export const RETIRED_PREKEY_GRACE_MS = 7 * DAY_MS;

/** What the lifecycle needs from the relay. */
export interface PrekeyUploader {
  uploadKeys(keys: KeysUpload): Promise<unknown>;
  /**
   * The signed prekey ids the relay holds for this account: asked only when it refuses ours
   * as stale — it holds newer ones than this device knows (a store restored from a backup).
   */
  keyStatus?(): Promise<{ signed_prekey_id: number | null; pq_prekey_id: number | null }>;
}

export interface MaintenanceOptions {
  /**
   * False: rotate and publish, but delete nothing yet — the device has not fetched its mailbox
   * since it started, and first messages waiting there may name a prekey past its grace
   * period (spec/protocol.md §4.7: fetch the mailbox before deleting expired prekeys).
   */
  readonly deleteExpired?: boolean;
}

export interface MaintenanceResult {
  /** A new pair was generated in this run. */
  readonly rotated: boolean;
  /** Ids of signed prekeys whose secrets (and replay records) were deleted in this run. */
  readonly deleted: readonly number[];
  /** The upload that failed in this run (it is retried on the next one), if any. */
  readonly uploadError?: unknown;
}

/** Whether the current pair is due for rotation at `now` (a clock set back counts as due). */
export function rotationDue(state: StoredPrekeyState, now: number): boolean {
  return now - state.rotatedAt >= PREKEY_ROTATION_INTERVAL_MS || now < state.rotatedAt;
}

/** When the next maintenance has work: the next rotation or the end of a grace period. */
export function nextMaintenanceAt(state: StoredPrekeyState): number {
  let at = state.rotatedAt + PREKEY_ROTATION_INTERVAL_MS;
  for (const r of state.retired)
    if (r.replacedAt !== null) at = Math.min(at, r.replacedAt + RETIRED_PREKEY_GRACE_MS);
  return at;
}

/**
 * One maintenance run: uploads what a failed run left unpublished, rotates when due (and
 * publishes the new pair), deletes the secrets of pairs past their grace period. Safe to call
 * any number of times; the caller serialises calls (SessionManager's prekey lock).
 */
export async function maintainPrekeys(
  storage: Storage,
  server: PrekeyUploader,
  now: number,
  options: MaintenanceOptions = {},
): Promise<MaintenanceResult> {
  let state = await loadPrekeyState(storage);
  let rotated = false;
  let uploadError: unknown;
  // A pair not yet on the relay is published before a newer one is made.
  if (state.uploaded && rotationDue(state, now)) {
    state = await rotate(storage, state, now);
    rotated = true;
  }
  if (!state.uploaded || !state.identityUploaded) {
    try {
      state = await publishCurrent(storage, server, state, now);
    } catch (err) {
      uploadError = err;
    }
    // The relay holds newer prekeys than this device (its store was rolled back to a backup):
    // they are not ours to use, and ids only grow — rotate past them and publish that pair.
    if (isStale(uploadError) && server.keyStatus) {
      try {
        const held = await server.keyStatus();
        state = await rotate(storage, state, now, {
          signed: Math.max(state.signedPreKeyId, held.signed_prekey_id ?? 0) + 1,
          pq: Math.max(state.pqPreKeyId, held.pq_prekey_id ?? 0) + 1,
        });
        rotated = true;
        state = await publishCurrent(storage, server, state, now);
        uploadError = undefined;
      } catch (err) {
        uploadError = err;
      }
    }
  }
  if (uploadError === undefined) {
    try {
      state = await publishPendingOneTime(storage, server, state);
    } catch (err) {
      uploadError = err;
    }
  }
  const deleted = options.deleteExpired === false ? [] : await deleteExpired(storage, state, now);
  return uploadError === undefined ? { rotated, deleted } : { rotated, deleted, uploadError };
}

const isStale = (err: unknown) => err instanceof ApiError && err.code === 'stale_prekey_id';

async function rotate(
  storage: Storage,
  state: StoredPrekeyState,
  now: number,
  ids = { signed: state.signedPreKeyId + 1, pq: state.pqPreKeyId + 1 },
): Promise<StoredPrekeyState> {
  const identity = await requireIdentity(storage);
  const spk = generateSignedPreKey(identity, ids.signed);
  const pq = generatePqPreKey(identity, ids.pq);
  const next: StoredPrekeyState = {
    ...state,
    signedPreKeyId: spk.id,
    pqPreKeyId: pq.id,
    rotatedAt: now,
    uploaded: false,
    retired: [
      ...state.retired,
      { signedPreKeyId: state.signedPreKeyId, pqPreKeyId: state.pqPreKeyId, replacedAt: null },
    ],
  };
  await storage.write(
    [
      { kind: 'put', key: RECORD.signedPreKey(spk.id), value: spk },
      { kind: 'put', key: RECORD.pqPreKey(pq.id), value: pq },
      { kind: 'put', key: RECORD.prekeyState, value: next },
    ],
    { durability: 'strict' },
  );
  return next;
}

/** Uploads the current pair; once accepted, the grace period of the pairs it replaced starts. */
async function publishCurrent(
  storage: Storage,
  server: PrekeyUploader,
  state: StoredPrekeyState,
  now: number,
): Promise<StoredPrekeyState> {
  const [spk, pq] = await Promise.all([
    loadSignedPreKey(storage, state.signedPreKeyId),
    loadPqPreKey(storage, state.pqPreKeyId),
  ]);
  if (!spk || !pq) throw new Error('current prekey missing from the store');
  const identity = state.identityUploaded ? undefined : await loadIdentity(storage);
  // The relay treats the same id with the same bytes as a no-op, so a repeat is harmless.
  const answer = await server.uploadKeys({
    ...(identity
      ? {
          identityKey: identity.keyPair.publicKey,
          identityProof: signIdentityProof(identity.keyPair, identity.username),
        }
      : {}),
    signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    pqPreKey: { id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
  });
  const fresh = await loadPrekeyState(storage);
  const next: StoredPrekeyState = {
    ...fresh,
    identityUploaded: true,
    uploaded: fresh.signedPreKeyId === spk.id ? true : fresh.uploaded,
    retired: fresh.retired.map((r) => (r.replacedAt === null ? { ...r, replacedAt: now } : r)),
  };
  // An identity published here (a start over made offline) created this device: keep its id.
  const deviceId = (answer as { deviceId?: unknown } | null)?.deviceId;
  const ops: WriteOp[] = [{ kind: 'put', key: RECORD.prekeyState, value: next }];
  if (identity && typeof deviceId === 'number')
    ops.push({ kind: 'put', key: RECORD.deviceId, value: deviceId });
  // ...and the resume secret the relay returns with a new device, only this once (spec §16.9).
  const resumeSecret = (answer as { resumeSecret?: unknown } | null)?.resumeSecret;
  if (identity && resumeSecret instanceof Uint8Array && resumeSecret.length === 32)
    ops.push({ kind: 'put', key: RECORD.resumeSecret, value: resumeSecret });
  await storage.write(ops, { durability: 'strict' });
  return next;
}

/**
 * Uploads one-time prekeys stored by an earlier run whose upload was not accepted. A relay that
 * already holds them (the answer to that upload was lost) says duplicate_key_id: also done.
 */
export async function publishPendingOneTime(
  storage: Storage,
  server: PrekeyUploader,
  state: StoredPrekeyState,
): Promise<StoredPrekeyState> {
  if (!state.pendingOneTime && !state.pendingOneTimePq) return state;
  const upload = await pendingOneTimeUpload(storage, state);
  try {
    await server.uploadKeys(upload);
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'duplicate_key_id')) throw err;
  }
  const fresh = await loadPrekeyState(storage);
  const next: StoredPrekeyState = {
    ...fresh,
    pendingOneTime: sameRange(fresh.pendingOneTime, state.pendingOneTime) ? null : fresh.pendingOneTime,
    pendingOneTimePq: sameRange(fresh.pendingOneTimePq, state.pendingOneTimePq)
      ? null
      : fresh.pendingOneTimePq,
  };
  await storage.write([{ kind: 'put', key: RECORD.prekeyState, value: next }], { durability: 'strict' });
  return next;
}

const sameRange = (a: StoredPrekeyState['pendingOneTime'], b: StoredPrekeyState['pendingOneTime']) =>
  a !== null && b !== null && a.from === b.from && a.to === b.to;

/** Deletes the secrets and replay records of every retired pair whose grace period is over. */
async function deleteExpired(storage: Storage, state: StoredPrekeyState, now: number): Promise<number[]> {
  const expired = state.retired.filter(
    (r) => r.replacedAt !== null && now - r.replacedAt >= RETIRED_PREKEY_GRACE_MS,
  );
  if (expired.length === 0) return [];
  const ops: WriteOp[] = [];
  for (const r of expired) {
    ops.push({ kind: 'delete', key: RECORD.signedPreKey(r.signedPreKeyId) });
    ops.push({ kind: 'delete', key: RECORD.pqPreKey(r.pqPreKeyId) });
    for (const { key } of await storage.list(RECORD.replayOf(r.signedPreKeyId)))
      ops.push({ kind: 'delete', key });
  }
  const next: StoredPrekeyState = { ...state, retired: state.retired.filter((r) => !expired.includes(r)) };
  ops.push({ kind: 'put', key: RECORD.prekeyState, value: next });
  await storage.write(ops, { durability: 'strict' });
  return expired.map((r) => r.signedPreKeyId);
}
