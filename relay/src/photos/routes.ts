// Photos (spec/openapi.yaml tag "photos"): POST /send_photo streams an opaque encrypted
// blob to disk, once for every device that is to read it; GET /get_photo/{id} streams it back to
// the devices of its sender's or receiver's account only. Anyone else gets exactly the 404 of an
// id that does not exist, so ids reveal nothing.
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type NextFunction, type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { authOf, requireAuth } from '../auth/require-auth.js';
import { withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { cancelBodyDeadline } from '../http/deadline.js';
import { HttpError, notFound } from '../http/http-error.js';
import { parse } from '../http/validate.js';
import { takeOrRefuse } from '../limits/rate-limited.js';
import { deviceOf } from '../messages/service.js';
import { lookupName } from '../users/accounts.js';
import { BodyTimeout, BodyTooLarge, BodyTruncated, receiveToFile } from './receive.js';
import { addPhotoTargets, lockPendingPhotos, newPhotoName, photoDir, quotaFull, UUID } from './store.js';
import { uploadRoutes } from './uploads.js';

const noPhoto = () => notFound('no such photo');

export function photoRoutes(deps: AppDeps): Router {
  const router = Router();
  const auth = requireAuth(deps);
  const maxBytes = deps.config.limits.photoBytes;
  const QuerySchema = z.strictObject({ to: z.string().min(1).max(64) });

  // Before authentication, from the headers alone: an early refusal (413 here, or the 401 of
  // requireAuth) closes the connection instead of reading, or draining, a large body.
  const refuseFromHeaders = (req: Request, res: Response, next: NextFunction) => {
    // The body is bounded by idleness and a long total (receiveToFile), not by the deadline
    // of JSON routes: a large photo on a slow link must be able to finish.
    cancelBodyDeadline(req);
    res.set('Connection', 'close');
    const declared = req.get('content-length');
    if (declared !== undefined && Number(declared) > maxBytes)
      throw new HttpError(413, 'payload_too_large', `a photo may be at most ${maxBytes} bytes`);
    next();
  };

  router.post('/send_photo', refuseFromHeaders, auth, async (req, res) => {
    const ctx = authOf(req);
    const { userId } = ctx;
    const device = await deviceOf(deps, ctx);
    const { to } = parse(QuerySchema, req.query);
    if (!req.is('application/octet-stream'))
      throw new HttpError(
        415,
        'unsupported_media_type',
        'send the encrypted photo as application/octet-stream',
      );
    const now = new Date(deps.clock.now());
    await takeOrRefuse(deps, userId, deps.config.messaging.send, 'sending too fast');
    const name = lookupName(to);
    const r = name
      ? await deps.pool.query<{ id: string; pending: string }>(
          `SELECT id, (SELECT count(*) FROM photos WHERE sender_id = $2)
                    + (SELECT count(*) FROM photo_uploads WHERE sender_id = $2) AS pending
             FROM users WHERE username = $1 AND status = 'active'`,
          [name, userId],
        )
      : undefined;
    const receiver = r?.rows[0];
    if (!receiver) throw notFound('no such user');
    // A cheap early refusal, before reading a body; the binding check is made with the insert.
    if (Number(receiver.pending) >= deps.config.messaging.maxPendingPhotos) throw quotaFull();

    const dir = photoDir(deps);
    const file = newPhotoName();
    const partial = join(dir, `${file}.part`);
    let size: number;
    try {
      size = await receiveToFile(req, partial, {
        maxBytes,
        idleMs: deps.config.http.uploadIdleMs,
        totalMs: deps.config.http.uploadMaxMs,
      });
    } catch (err) {
      if (err instanceof BodyTimeout)
        throw new HttpError(408, 'request_timeout', 'the upload stalled or took too long');
      if (err instanceof BodyTooLarge)
        throw new HttpError(413, 'payload_too_large', `a photo may be at most ${maxBytes} bytes`);
      if (err instanceof BodyTruncated) throw new HttpError(400, 'request_aborted', 'the upload ended early');
      throw err;
    }
    if (size === 0) {
      await unlink(partial).catch(() => undefined);
      throw new HttpError(400, 'invalid_request', 'empty photo');
    }
    // A receiver who blocked the sender gets no special case here (spec/openapi.yaml POST
    // /blocks): the photo is stored, counted and swept like any other, so its sender sees the
    // same answers as for a receiver who never opens it. Blocking drops the message that would
    // carry its id and key, so the receiver never learns of it.
    const final = join(dir, file);
    try {
      await rename(partial, final);
      // Count and insert under one per-sender lock, in one transaction: parallel uploads that all
      // passed the early check cannot together exceed MAX_PENDING_PHOTOS.
      const row = await withTransaction(deps.pool, async (client) => {
        if ((await lockPendingPhotos(client, userId)) >= deps.config.messaging.maxPendingPhotos)
          return undefined;
        const ins = await client.query<{ id: string; created_at: Date }>(
          `INSERT INTO photos (sender_id, receiver_id, file_path, size, created_at, sender_device_id)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at`,
          [userId, receiver.id, file, size, now, device],
        );
        const photo = ins.rows[0];
        if (photo) await addPhotoTargets(client, photo.id, userId, device, receiver.id);
        return photo;
      });
      if (!row) throw quotaFull();
      res.removeHeader('Connection');
      res.status(201).json({ id: row.id, size, created_at: row.created_at.toISOString() });
    } catch (err) {
      await unlink(final).catch(() => undefined);
      await unlink(partial).catch(() => undefined);
      throw err;
    }
  });

  router.get('/get_photo/:id', auth, async (req, res) => {
    const ctx = authOf(req);
    const { userId } = ctx;
    await deviceOf(deps, ctx);
    const id = req.params.id;
    if (typeof id !== 'string' || !UUID.test(id)) throw noPhoto();
    const r = await deps.pool.query<{ file_path: string }>(
      'SELECT file_path FROM photos WHERE id = $1 AND (sender_id = $2 OR receiver_id = $2)',
      [id, userId],
    );
    const row = r.rows[0];
    if (!row) throw noPhoto();
    // Opened before any header is sent: a file removed meanwhile is still a clean 404.
    const handle = await open(join(photoDir(deps), row.file_path), 'r').catch(() => null);
    if (!handle) throw noPhoto();
    const { size } = await handle.stat();
    res.set({
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(size),
      'Cache-Control': 'no-store',
    });
    try {
      await pipeline(handle.createReadStream(), res);
    } catch (err) {
      // The client went away mid-download: nothing to answer.
      if (!res.destroyed) throw err;
    }
  });

  router.use(uploadRoutes(deps));
  return router;
}
