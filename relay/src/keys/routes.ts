// Key routes (issue 3 "Keys"; spec/openapi.yaml tag "keys"): upload the identity key, the signed
// X25519 and ML-KEM-768 prekeys and one-time prekeys; read one's own stock; fetch another
// user's bundle, which hands out one one-time prekey exactly once.
import { Router } from 'express';
import { z } from 'zod';
import { authOf, requireAuth } from '../auth/require-auth.js';
import { lookupName } from '../contacts/username.js';
import { withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { jsonBody } from '../http/body.js';
import { HttpError, notFound } from '../http/http-error.js';
import { parse } from '../http/validate.js';
import { rateLimited } from '../limits/rate-limited.js';
import { takeToken } from '../limits/token-bucket.js';
import { base64Bytes } from './base64.js';
import {
  KEYS_BODY_LIMIT,
  MAX_KEY_ID,
  MAX_PQ_PUBLIC_KEY_BYTES,
  MAX_PREKEYS_PER_UPLOAD,
  MAX_PUBLIC_KEY_BYTES,
  MAX_SIGNATURE_BYTES,
  MAX_STORED_PREKEYS,
} from './limits.js';
import { applyUpload, keyStatus, readBundle, type SignedKey, takeOneTimePrekey } from './store.js';

const keyId = z.number().int().min(0).max(MAX_KEY_ID);
const signed = (maxKey: number) =>
  z.strictObject({
    key_id: keyId,
    public_key: base64Bytes(maxKey),
    signature: base64Bytes(MAX_SIGNATURE_BYTES),
  });

const UploadSchema = z
  .strictObject({
    identity_key: base64Bytes(MAX_PUBLIC_KEY_BYTES).optional(),
    signed_prekey: signed(MAX_PUBLIC_KEY_BYTES).optional(),
    pq_prekey: signed(MAX_PQ_PUBLIC_KEY_BYTES).optional(),
    one_time_prekeys: z
      .array(z.strictObject({ key_id: keyId, public_key: base64Bytes(MAX_PUBLIC_KEY_BYTES) }))
      .max(MAX_PREKEYS_PER_UPLOAD)
      .refine((a) => new Set(a.map((k) => k.key_id)).size === a.length, 'key_id values must be distinct')
      .optional(),
  })
  .refine((u) => Object.values(u).some((v) => v !== undefined), 'nothing to upload');

const toSigned = (
  k: { key_id: number; public_key: Buffer; signature: Buffer } | undefined,
): SignedKey | undefined => k && { keyId: k.key_id, publicKey: k.public_key, signature: k.signature };

const b64 = (b: Buffer) => b.toString('base64');

export function keyRoutes(deps: AppDeps): Router {
  const router = Router();
  const auth = requireAuth(deps);
  const low = (n: number) => n < deps.config.data.prekeyLowThreshold;

  router.post('/keys', auth, jsonBody(KEYS_BODY_LIMIT), async (req, res) => {
    const { userId } = authOf(req);
    const body = parse(UploadSchema, req.body);
    const now = new Date(deps.clock.now());
    const out = await withTransaction(deps.pool, (tx) =>
      applyUpload(
        tx,
        userId,
        {
          identityKey: body.identity_key,
          signedPrekey: toSigned(body.signed_prekey),
          pqPrekey: toSigned(body.pq_prekey),
          oneTimePrekeys: body.one_time_prekeys?.map((k) => ({ keyId: k.key_id, publicKey: k.public_key })),
        },
        now,
      ),
    );
    if (out.kind === 'no_identity')
      throw new HttpError(409, 'identity_key_required', 'upload the identity key before (or with) prekeys');
    if (out.kind === 'too_many')
      throw new HttpError(
        409,
        'prekey_limit',
        `at most ${MAX_STORED_PREKEYS} one-time prekeys may be stored`,
        {
          stored: out.stored,
        },
      );
    if (out.kind === 'duplicate_key_id')
      throw new HttpError(409, 'duplicate_key_id', 'a one-time prekey with this key_id is already stored');
    // Published after the commit (src/notify/pg-notifier.ts): contacts hear of the new identity.
    for (const n of out.notified) deps.notifier.publish({ kind: 'stream', userId: n.userId, seq: n.seq });
    res.json({
      identity_changed: out.identityChanged,
      one_time_prekeys: out.remaining,
      prekeys_low: low(out.remaining),
    });
  });

  router.get('/keys', auth, async (req, res) => {
    const s = await keyStatus(deps.pool, authOf(req).userId);
    res.json({
      identity_key: s.identityKey ? b64(s.identityKey) : null,
      signed_prekey_id: s.signedPrekeyId,
      pq_prekey_id: s.pqPrekeyId,
      one_time_prekeys: s.remaining,
      prekeys_low: low(s.remaining),
    });
  });

  router.get('/keys/:username', auth, async (req, res) => {
    const { userId } = authOf(req);
    // Limited before the lookup, so the route cannot be used to drain stocks or scan names fast.
    const take = await takeToken(deps.pool, userId, deps.config.data.prekeyFetch, new Date(deps.clock.now()));
    if (!take.ok) throw rateLimited(take.retryAfterSeconds, 'too many key bundle requests');
    const name = lookupName(req.params.username);
    const bundle = name ? await readBundle(deps.pool, name) : null;
    if (!bundle || !name) throw notFound('no key bundle for this user');
    const { key, remaining } = await takeOneTimePrekey(deps.pool, bundle.userId);
    if (low(remaining)) deps.notifier.publish({ kind: 'prekeys_low', userId: bundle.userId, remaining });
    const signedOut = (k: SignedKey) => ({
      key_id: k.keyId,
      public_key: b64(k.publicKey),
      signature: b64(k.signature),
    });
    res.json({
      username: name,
      identity_key: b64(bundle.identityKey),
      signed_prekey: signedOut(bundle.signedPrekey),
      pq_prekey: signedOut(bundle.pqPrekey),
      one_time_prekey: key ? { key_id: key.keyId, public_key: b64(key.publicKey) } : null,
    });
  });

  return router;
}
