// Key routes (spec/openapi.yaml tag "keys"; protocol version 2, spec/protocol.md §4): upload the
// identity key with its proof, the signed X25519 and last-resort ML-KEM-768 prekeys and one-time
// prekeys of both kinds; read one's own stock; fetch another user's bundle to start a session,
// which hands out one-time prekeys exactly once; look up a user's identity without spending any.
import { Router } from 'express';
import { z } from 'zod';
import { authOf, requireAuth } from '../auth/require-auth.js';
import { isFreshlyAuthenticated } from '../auth/sessions.js';
import { retryOnDeadlock } from '../db/deadlock.js';
import { withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { MAX_DEVICE_ID, MAX_DEVICE_IDS_PER_QUERY } from '../devices/limits.js';
import { requireDevice } from '../devices/require-device.js';
import { DeviceDescription, deviceId } from '../devices/validate.js';
import { base64Bytes } from '../http/base64.js';
import { jsonBody } from '../http/body.js';
import { HttpError, notFound } from '../http/http-error.js';
import { parse } from '../http/validate.js';
import { rateLimited, takeOrRefuse } from '../limits/rate-limited.js';
import { lookupName } from '../users/accounts.js';
import { identityProofValid } from './identity-proof.js';
import {
  KEYS_BODY_LIMIT,
  MAX_KEY_ID,
  MAX_PQ_PREKEYS_PER_UPLOAD,
  MAX_PQ_PUBLIC_KEY_BYTES,
  MAX_PREKEYS_PER_UPLOAD,
  MAX_PUBLIC_KEY_BYTES,
  MAX_SIGNATURE_BYTES,
} from './limits.js';
import {
  applyUpload,
  IDENTITY_KEY_INDEX,
  isUniqueViolation,
  keyStatus,
  RESUME_SECRET_BYTES,
  readBundles,
  readIdentity,
  type SignedKey,
  type Stocks,
  takeOneTimePqPrekeys,
  takeOneTimePrekeys,
  type UploadOutcome,
} from './store.js';

const keyId = z.number().int().min(0).max(MAX_KEY_ID);
const signed = (maxKey: number) =>
  z.strictObject({
    key_id: keyId,
    public_key: base64Bytes(maxKey),
    signature: base64Bytes(MAX_SIGNATURE_BYTES),
  });
const distinctIds = <T extends { key_id: number }>(a: T[]) =>
  new Set(a.map((k) => k.key_id)).size === a.length;

const UploadSchema = z
  .strictObject({
    identity_key: base64Bytes(MAX_PUBLIC_KEY_BYTES).optional(),
    identity_proof: base64Bytes(MAX_SIGNATURE_BYTES).optional(),
    // Devices (spec/protocol.md §16): RESUME this device, or describe the one this upload creates.
    device_id: deviceId.optional(),
    // RESUME needs the device's secret (spec/protocol.md §16.9); only with device_id.
    resume_secret: base64Bytes(RESUME_SECRET_BYTES)
      .refine((b) => b.length === RESUME_SECRET_BYTES, `must be ${RESUME_SECRET_BYTES} bytes`)
      .optional(),
    device: DeviceDescription.optional(),
    signed_prekey: signed(MAX_PUBLIC_KEY_BYTES).optional(),
    pq_prekey: signed(MAX_PQ_PUBLIC_KEY_BYTES).optional(),
    one_time_prekeys: z
      .array(z.strictObject({ key_id: keyId, public_key: base64Bytes(MAX_PUBLIC_KEY_BYTES) }))
      .max(MAX_PREKEYS_PER_UPLOAD)
      .refine(distinctIds, 'key_id values must be distinct')
      .optional(),
    one_time_pq_prekeys: z
      .array(signed(MAX_PQ_PUBLIC_KEY_BYTES))
      .max(MAX_PQ_PREKEYS_PER_UPLOAD)
      .refine(distinctIds, 'key_id values must be distinct')
      .optional(),
  })
  .refine((u) => Object.values(u).some((v) => v !== undefined), 'nothing to upload')
  .refine((u) => u.resume_secret === undefined || u.device_id !== undefined, 'resume_secret needs device_id');

const toSigned = (
  k: { key_id: number; public_key: Buffer; signature: Buffer } | undefined,
): SignedKey | undefined => k && { keyId: k.key_id, publicKey: k.public_key, signature: k.signature };

const b64 = (b: Buffer) => b.toString('base64');

// ?device_ids=1,2,3 (at most MAX_DEVICE_IDS_PER_QUERY): the form is checked, the values are
// not: a repeated id counts once and an id no device can have (beyond 2^31 − 1) matches none,
// as an id of a removed device does.
const DeviceIdsQuery = z.strictObject({
  device_ids: z
    .string()
    .regex(
      new RegExp(`^[1-9]\\d{0,9}(?:,[1-9]\\d{0,9}){0,${MAX_DEVICE_IDS_PER_QUERY - 1}}$`),
      `must be a comma-separated list of at most ${MAX_DEVICE_IDS_PER_QUERY} device ids`,
    )
    .transform((v) => [...new Set(v.split(',').map(Number))].filter((n) => n <= MAX_DEVICE_ID))
    .optional(),
});

const badProof = (message: string) => new HttpError(400, 'bad_identity_proof', message);
const identityTaken = () =>
  new HttpError(409, 'identity_key_taken', 'this identity key is registered to another account');

/** The answer to every refused upload (the transaction is rolled back by throwing it). */
function refusal(out: Exclude<UploadOutcome, { kind: 'ok' }>): HttpError {
  switch (out.kind) {
    case 'no_identity':
      return new HttpError(409, 'identity_key_required', 'upload the identity key before (or with) prekeys');
    case 'identity_taken':
      return identityTaken();
    case 'reauth_required':
      return new HttpError(
        403,
        'reauth_required',
        'replacing the identity key needs a fresh code: confirm with POST /session/reauth (TOTP or recovery code) and retry within 5 minutes',
      );
    case 'rate_limited':
      return rateLimited(out.retryAfterSeconds, 'too many identity key changes; retry later');
    case 'device_required':
      return new HttpError(
        409,
        'device_required',
        'this session has no device yet: upload the identity key (with its proof) to set it up',
      );
    case 'device_removed':
      return new HttpError(
        409,
        'device_removed',
        'this device was removed from the account: erase it and link it again (or start over)',
      );
    case 'device_limit':
      return new HttpError(409, 'device_limit', `an account may have at most ${out.limit} devices`, {
        limit: out.limit,
      });
    case 'provisioning_required':
      return new HttpError(
        403,
        'provisioning_required',
        "linking a device needs the approval of a device of the account: scan this device's link code there first (or start over)",
      );
    case 'resume_refused':
      return new HttpError(
        403,
        'resume_refused',
        'this device cannot be resumed from here: erase this app and link it again (or start over)',
      );
    case 'device_mismatch':
      return new HttpError(409, 'device_mismatch', "device_id is not this session's device");
    case 'stale_prekey':
      return new HttpError(
        409,
        'stale_prekey_id',
        `${out.which}.key_id must be greater than the stored one (or the same key sent again)`,
      );
    case 'too_many':
      return new HttpError(409, 'prekey_limit', `at most ${out.max} ${out.which} may be stored`, {
        stored: out.stored,
      });
    case 'duplicate_key_id':
      return new HttpError(
        409,
        'duplicate_key_id',
        `a ${out.which} entry with this key_id is already stored`,
      );
  }
}

export function keyRoutes(deps: AppDeps): Router {
  const router = Router();
  const auth = requireAuth(deps);
  const low = (n: number) => n < deps.config.messaging.prekeyLowThreshold;
  const stockFields = (s: Stocks) => ({
    one_time_prekeys: s.x25519,
    prekeys_low: low(s.x25519),
    one_time_pq_prekeys: s.pq,
    pq_prekeys_low: low(s.pq),
  });

  router.post('/keys', auth, jsonBody(KEYS_BODY_LIMIT), async (req, res) => {
    const { userId, sessionId, deviceId: sessionDevice } = authOf(req);
    const body = parse(UploadSchema, req.body);
    // Proof of possession for this account (spec/protocol.md §4.6), checked before any write.
    if (body.identity_proof && !body.identity_key) throw badProof('identity_proof needs identity_key');
    if (body.identity_key) {
      if (!body.identity_proof) throw badProof('identity_key needs identity_proof');
      const me = await deps.pool.query<{ username: string }>('SELECT username FROM users WHERE id = $1', [
        userId,
      ]);
      const username = me.rows[0]?.username;
      if (!username || !identityProofValid(body.identity_key, username, body.identity_proof))
        throw badProof('identity_proof does not verify for this identity key and account');
    }
    const now = new Date(deps.clock.now());
    let out: Extract<UploadOutcome, { kind: 'ok' }>;
    try {
      // All or nothing, so run again whole when PostgreSQL breaks a lock cycle with it (a start
      // over takes stream counters in user id order, a group-committed batch in username order).
      out = await retryOnDeadlock(() =>
        withTransaction(deps.pool, async (tx) => {
          const r = await applyUpload(
            tx,
            userId,
            {
              identityKey: body.identity_key,
              signedPrekey: toSigned(body.signed_prekey),
              pqPrekey: toSigned(body.pq_prekey),
              oneTimePrekeys: body.one_time_prekeys?.map((k) => ({
                keyId: k.key_id,
                publicKey: k.public_key,
              })),
              oneTimePqPrekeys: body.one_time_pq_prekeys?.map((k) => toSigned(k) as SignedKey),
              deviceId: body.device_id,
              resumeSecret: body.resume_secret,
              device: body.device,
            },
            now,
            {
              identityChange: deps.config.messaging.identityChange,
              deviceLimit: deps.config.messaging.deviceLimit,
            },
            {
              sessionId,
              deviceId: sessionDevice ?? null,
              freshlyAuthenticated: () => isFreshlyAuthenticated(tx, sessionId, now.getTime()),
            },
          );
          if (r.kind !== 'ok') throw refusal(r);
          return r;
        }),
      );
    } catch (err) {
      // Another account committed the same identity key while this upload waited on the index.
      if (isUniqueViolation(err, IDENTITY_KEY_INDEX)) throw identityTaken();
      throw err;
    }
    // Published after the commit (src/notify/pg-notifier.ts): contacts hear of the new identity.
    for (const n of out.notified) deps.notifier.publish({ kind: 'stream', userId: n.userId, seq: n.seq });
    res.json({
      identity_changed: out.identityChanged,
      device_id: out.deviceId,
      device_created: out.created,
      // Returned once (only its hash is stored); never logged (SECURITY.md).
      ...(out.resumeSecret ? { resume_secret: b64(out.resumeSecret) } : {}),
      ...stockFields(out.stocks),
    });
  });

  router.get('/keys', auth, async (req, res) => {
    const { userId, deviceId } = authOf(req);
    const device = deviceId ?? null;
    const s = await keyStatus(deps.pool, userId, device);
    res.json({
      identity_key: s.identityKey ? b64(s.identityKey) : null,
      device_id: device,
      signed_prekey_id: s.signedPrekeyId,
      pq_prekey_id: s.pqPrekeyId,
      ...stockFields(s.stocks),
    });
  });

  const signedOut = (k: SignedKey) => ({
    key_id: k.keyId,
    public_key: b64(k.publicKey),
    signature: b64(k.signature),
  });

  // Only to START sessions: it spends one one-time prekey of each kind PER DEVICE returned
  // (GET /identity/{username} spends nothing). A device session only (spec/protocol.md §16).
  router.get('/keys/:username', auth, async (req, res) => {
    const ctx = authOf(req);
    const me = requireDevice(ctx);
    const q = parse(DeviceIdsQuery, req.query);
    // Limited before the lookup, so the route cannot be used to drain stocks or scan names fast.
    await takeOrRefuse(deps, ctx.userId, deps.config.messaging.prekeyFetch, 'too many key bundle requests');
    const name = lookupName(req.params.username);
    // The caller's own account is allowed (sibling sessions between its devices), its own device never.
    const found = name
      ? await readBundles(deps.pool, name, q.device_ids ?? null, { userId: ctx.userId, deviceId: me })
      : null;
    if (!found || !name) throw notFound('no key bundle for this user');
    const ids = found.devices.map((d) => d.deviceId);
    const [x, pq] = await Promise.all([
      takeOneTimePrekeys(deps.pool, found.userId, ids),
      takeOneTimePqPrekeys(deps.pool, found.userId, ids),
    ]);
    for (const id of ids) {
      const rx = x.get(id)?.remaining ?? 0;
      const rpq = pq.get(id)?.remaining ?? 0;
      if (low(rx) || low(rpq))
        deps.notifier.publish({
          kind: 'prekeys_low',
          userId: found.userId,
          deviceId: id,
          remaining: rx,
          remainingPq: rpq,
        });
    }
    res.json({
      username: name,
      identity_key: b64(found.identityKey),
      devices: found.devices.map((d) => {
        const otk = x.get(d.deviceId)?.key ?? null;
        const pqk = pq.get(d.deviceId)?.key ?? null;
        return {
          device_id: d.deviceId,
          signed_prekey: signedOut(d.signedPrekey),
          // A one-time ML-KEM prekey while the device's stock lasts, else its last-resort one (PQXDH §3.3).
          pq_prekey: pqk
            ? { kind: 'one_time', ...signedOut(pqk) }
            : { kind: 'last_resort', ...signedOut(d.pqPrekey) },
          one_time_prekey: otk ? { key_id: otk.keyId, public_key: b64(otk.publicKey) } : null,
        };
      }),
    });
  });

  // For the key-change check, the safety screen and the device lists of a send: the identity, the
  // active devices and their prekey ids, nothing spent. Open to device-less sessions: a new device
  // checks its account's published identity before it links (spec/protocol.md §16).
  router.get('/identity/:username', auth, async (req, res) => {
    const { userId } = authOf(req);
    await takeOrRefuse(deps, userId, deps.config.messaging.identityLookup, 'too many identity lookups');
    const name = lookupName(req.params.username);
    const found = name ? await readIdentity(deps.pool, name) : null;
    if (!found || !name) throw notFound('no identity key for this user');
    res.json({
      username: name,
      identity_key: b64(found.identityKey),
      device_ids: found.devices.map((d) => d.deviceId),
      devices: found.devices.map((d) => ({
        device_id: d.deviceId,
        signed_prekey_id: d.signedPrekeyId,
        pq_prekey_id: d.pqPrekeyId,
      })),
    });
  });

  return router;
}
