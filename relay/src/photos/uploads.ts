// Resumable photo uploads: the tus 1.0.0 protocol (https://tus.io/protocols/resumable-upload,
// core + creation, expiration, termination) served by @tus/server with @tus/file-store, as
// documented in spec/openapi.yaml (tag "photos", /uploads). POST /uploads?to=<username> declares
// the ciphertext's length (Upload-Length) and gets an upload URL; PATCH appends at Upload-Offset;
// HEAD tells how much arrived, so a cut upload resumes where it stopped; DELETE abandons it. When
// the last byte arrives the upload becomes a photo whose id is the upload's id (GET /get_photo/{id}).
//
// What this module adds to @tus/server, and why:
// - Auth: the bearer token of every other route (requireAuth) on all but OPTIONS, and an upload
//   is visible to its uploader only: anyone else gets the 404 of an id that does not exist.
// - Limits: MAX_PHOTO_BYTES (@tus/server's maxSize: 413 from Upload-Length, before any body);
//   MAX_PENDING_PHOTOS checked with the creation, under the sender's quota lock, an unfinished
//   upload counting as a photo (src/photos/store.ts lockPendingPhotos); the send rate per creation;
//   an idle and a total deadline per PATCH (UPLOAD_IDLE_TIMEOUT_SECONDS, UPLOAD_MAX_SECONDS);
//   PHOTO_UPLOAD_EXPIRY_SECONDS after which an unfinished upload is swept with its files.
// - Errors: @tus/server answers in plain text; every 4xx here is the API's JSON
//   {"error","message"} (spec/openapi.yaml info.description), mapped in one place (jsonAnswer).
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { FileStore } from '@tus/file-store';
import { ERRORS, Server, type Upload } from '@tus/server';
import { type NextFunction, type Request, type Response, Router } from 'express';
import { NodeRequest, sendNodeResponse } from 'srvx/node';
import { z } from 'zod';
import { authOf, requireAuth } from '../auth/require-auth.js';
import { withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { cancelBodyDeadline, timeOut } from '../http/deadline.js';
import { HttpError, notFound } from '../http/http-error.js';
import { parse } from '../http/validate.js';
import { takeOrRefuse } from '../limits/rate-limited.js';
import { deviceOf } from '../messages/service.js';
import { lookupName } from '../users/accounts.js';
import { addPhotoTargets, lockPendingPhotos, newPhotoName, photoDir, quotaFull, UUID } from './store.js';

/** The upload URL relative to the creation URL, so it resolves behind a path prefix (the host's /api). */
const UPLOAD_PATH = /^\/uploads\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
/** How often an upload's socket is looked at for progress (the idle deadline's resolution). */
const IDLE_CHECK_MS = 250;

const noUpload = () => notFound('no such upload');

/** The directory of unfinished uploads (0700): DATA_DIR/photo-uploads, beside DATA_DIR/photos. */
export function uploadDir(deps: Pick<AppDeps, 'config'>): string {
  const dir = join(deps.config.dataDir, 'photo-uploads');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** An HttpError as @tus/server's hook error shape (its body becomes the answer verbatim). */
const asTusError = (err: HttpError) => ({
  status_code: err.status,
  body: JSON.stringify({ error: err.code, message: err.message, ...err.extra }),
});

// @tus/server's own refusals (plain text) as the API's error codes. Its 403s (a missing
// Upload-Offset or Content-Type) and 501s (extensions not offered) are bad requests here; a
// 410 (file gone, e.g. swept) is the 404 of an upload that does not exist.
const TUS_STATUS: Record<number, [number, string]> = {
  400: [400, 'invalid_request'],
  403: [400, 'invalid_request'],
  404: [404, 'not_found'],
  409: [409, 'offset_conflict'],
  410: [404, 'not_found'],
  412: [412, 'unsupported_version'],
  413: [413, 'payload_too_large'],
  415: [415, 'unsupported_media_type'],
  501: [400, 'unsupported_extension'],
};

/** Every error answer as JSON {"error","message"}: ours pass through, @tus/server's text is mapped. */
async function jsonAnswer(response: Response | globalThis.Response): Promise<globalThis.Response> {
  const web = response as globalThis.Response;
  if (web.status < 400) return web;
  const text = await web.text();
  let body: { error: string; message: string } | undefined;
  let status = web.status;
  try {
    const parsed = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (typeof parsed.error === 'string' && typeof parsed.message === 'string') body = parsed as typeof body;
  } catch {
    // plain text from @tus/server
  }
  if (!body) {
    const [mapped, error] = TUS_STATUS[status] ?? [500, 'internal'];
    status = mapped;
    // @tus/server's messages are fixed strings, never request data.
    const message = mapped === 404 ? 'no such upload' : mapped === 500 ? 'internal error' : text.trim();
    body = { error, message: message || error };
  }
  const headers = new Headers(web.headers);
  headers.set('Content-Type', 'application/json; charset=utf-8');
  headers.delete('Content-Length');
  return new globalThis.Response(JSON.stringify(body), { status, headers });
}

interface Pending {
  receiverId: string;
  senderDevice: number;
}
/** The receiver chosen by the Express part of a creation, for @tus/server's onUploadCreate. */
const creations = new WeakMap<object, Pending>();

/**
 * Bounds one PATCH/POST body by idleness and total time (README "Configuration", HTTP time
 * limits): the socket's byte count is looked at every IDLE_CHECK_MS, without reading the body,
 * which belongs to @tus/server. On expiry: a JSON 408 if nothing was answered yet, then the
 * connection is closed; @tus/server keeps what arrived, so the client resumes from there.
 */
function watchBody(req: Request, res: Response, idleMs: number, totalMs: number): void {
  const started = Date.now();
  let lastBytes = req.socket.bytesRead;
  let lastProgress = started;
  const timer = setInterval(
    () => {
      if (req.complete) return stop();
      const now = Date.now();
      const bytes = req.socket.bytesRead;
      if (bytes !== lastBytes) {
        lastBytes = bytes;
        lastProgress = now;
      }
      if (now - lastProgress >= idleMs || now - started >= totalMs) {
        stop();
        // Destroyed with an error (not only its socket), so @tus/server aborts the write and
        // the file's descriptor is closed (it listens for the request's 'error').
        // Once the connection is gone (closed in stages after the 408, at most LINGER_MS).
        const abort = () => req.destroy(new Error('upload idle or too long'));
        res.once('finish', () => (req.socket.destroyed ? abort() : req.socket.once('close', abort)));
        timeOut(req, res);
      }
    },
    Math.min(IDLE_CHECK_MS, idleMs),
  );
  timer.unref();
  const stop = () => clearInterval(timer);
  res.once('close', stop);
}

/**
 * The file store, which also answers for an upload its own request has just completed: with
 * creation-with-upload the whole photo comes in the POST, onUploadFinish turns the upload's files
 * into a photo, and @tus/server's POST handler then reads the upload back (for Upload-Expires).
 * Read once, then forgotten; a minute at most if it is never read.
 */
class PhotoUploadStore extends FileStore {
  private readonly justCompleted = new Map<string, Upload>();

  completedNow(upload: Upload): void {
    this.justCompleted.set(upload.id, upload);
    setTimeout(() => this.justCompleted.delete(upload.id), 60_000).unref();
  }

  override async getUpload(id: string): Promise<Upload> {
    const done = this.justCompleted.get(id);
    if (!done) return super.getUpload(id);
    this.justCompleted.delete(id);
    return done;
  }
}

export function uploadRoutes(deps: AppDeps): Router {
  const router = Router();
  const auth = requireAuth(deps);
  const maxBytes = deps.config.limits.photoBytes;
  const expiryMs = deps.config.messaging.photoUploadExpiryMs;
  const QuerySchema = z.strictObject({ to: z.string().min(1).max(64) });
  const dir = uploadDir(deps);
  const store = new PhotoUploadStore({ directory: dir, expirationPeriodInMilliseconds: expiryMs });
  const nodeReqOf = (req: globalThis.Request): Request | undefined =>
    (req as { runtime?: { node?: { req?: Request } } }).runtime?.node?.req;
  const userOf = (req: globalThis.Request): string => {
    const node = nodeReqOf(req);
    if (!node?.auth) throw asTusError(noUpload());
    return node.auth.userId;
  };

  const tus = new Server({
    path: '/uploads',
    datastore: store,
    maxSize: maxBytes,
    // 122 random bits (UUID v4): the id is the upload's URL and later the photo's id, never guessable.
    namingFunction: () => randomUUID(),
    generateUrl: (_req, { id }) => `uploads/${id}`,
    getFileIdFromRequest: (req) => UPLOAD_PATH.exec(new URL(req.url).pathname)?.[1],
    // Completed uploads are photos, no longer uploads: DELETE of one is a 404 like any unknown id.
    disableTerminationForFinishedUploads: true,
    // No CORS, like every other route: the PWA reaches the relay on its own origin (the host's
    // /api). @tus/server would otherwise answer Access-Control-Allow-Origin: * to any page.
    allowedOrigins: [],
    async onIncomingRequest(req, id) {
      if (req.method === 'POST') return;
      const r = await deps.pool.query(
        'SELECT 1 FROM photo_uploads WHERE id = $1 AND sender_id = $2 AND expires_at > $3',
        [id, userOf(req), new Date(deps.clock.now())],
      );
      if (r.rowCount === 0) throw asTusError(noUpload());
    },
    async onUploadCreate(req, upload) {
      const pending = nodeReqOf(req) && creations.get(nodeReqOf(req) as object);
      if (!pending) throw asTusError(noUpload());
      if (upload.size === undefined)
        throw asTusError(new HttpError(400, 'invalid_request', 'declare the photo size in Upload-Length'));
      if (upload.size <= 0) throw asTusError(new HttpError(400, 'invalid_request', 'empty photo'));
      const senderId = userOf(req);
      const now = new Date(deps.clock.now());
      // The quota and the reservation in one transaction under the sender's lock: parallel
      // creations at the quota edge cannot together exceed MAX_PENDING_PHOTOS.
      const ok = await withTransaction(deps.pool, async (client) => {
        if ((await lockPendingPhotos(client, senderId)) >= deps.config.messaging.maxPendingPhotos)
          return false;
        await client.query(
          `INSERT INTO photo_uploads (id, sender_id, receiver_id, size, created_at, expires_at, sender_device_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            upload.id,
            senderId,
            pending.receiverId,
            upload.size,
            now,
            new Date(now.getTime() + expiryMs),
            pending.senderDevice,
          ],
        );
        return true;
      });
      if (!ok) throw asTusError(quotaFull());
      return {};
    },
    async onUploadFinish(req, upload) {
      await completeUpload(deps, dir, upload, userOf(req));
      await store.configstore.delete(upload.id).catch(() => undefined);
      if (req.method === 'POST') store.completedNow(upload);
      return {};
    },
    onResponseError(_req, err) {
      if ('status_code' in err) return undefined;
      // Unexpected (a bug or the disk): logged by type only, answered as a generic error.
      deps.logger.error({ err: { type: err.name, message: err.message } }, 'upload failed');
      return ERRORS.UNKNOWN_ERROR;
    },
  });

  const handle = async (req: Request, res: Response) => {
    const response = await jsonAnswer(await tus.handleWeb(new NodeRequest({ req, res })));
    // Already answered (the body deadline's 408) or the client is gone: nothing more to send.
    if (res.headersSent || res.destroyed) return;
    // An error before the body was read: close rather than drain a body that may never come.
    if (response.status >= 400 && !req.complete) res.set('Connection', 'close');
    await sendNodeResponse(res, response);
  };

  // OPTIONS (tus discovery: versions, extensions, maximum size) needs no token.
  router.options(['/uploads', '/uploads/:id'], (req, res) => handle(req, res));

  router.post('/uploads', auth, async (req: Request, res: Response, next: NextFunction) => {
    const ctx = authOf(req);
    const { userId } = ctx;
    const senderDevice = await deviceOf(deps, ctx);
    const { to } = parse(QuerySchema, req.query);
    const declared = Number(req.get('upload-length'));
    // The cap from the header, before any other work (@tus/server checks it again).
    if (declared > maxBytes)
      throw new HttpError(413, 'payload_too_large', `a photo may be at most ${maxBytes} bytes`);
    await takeOrRefuse(deps, userId, deps.config.messaging.send, 'sending too fast');
    const name = lookupName(to);
    const r = name
      ? await deps.pool.query<{ id: string }>(
          `SELECT id FROM users WHERE username = $1 AND status = 'active'`,
          [name],
        )
      : undefined;
    const receiver = r?.rows[0];
    if (!receiver) throw notFound('no such user');
    creations.set(req, { receiverId: receiver.id, senderDevice });
    cancelBodyDeadline(req);
    watchBody(req, res, deps.config.http.uploadIdleMs, deps.config.http.uploadMaxMs);
    await handle(req, res).catch(next);
  });

  const withUpload = (req: Request) => {
    const id = req.params.id;
    if (typeof id !== 'string' || !UUID.test(id)) throw noUpload();
  };
  router.head('/uploads/:id', auth, async (req, res) => {
    withUpload(req);
    await handle(req, res);
  });
  router.delete('/uploads/:id', auth, async (req, res) => {
    withUpload(req);
    const response = await jsonAnswer(await tus.handleWeb(new NodeRequest({ req, res })));
    // Terminated (tus termination): the reservation goes too, freeing its MAX_PENDING_PHOTOS slot.
    if (response.status === 204)
      await deps.pool.query('DELETE FROM photo_uploads WHERE id = $1 AND sender_id = $2', [
        req.params.id,
        authOf(req).userId,
      ]);
    await sendNodeResponse(res, response);
  });
  router.patch('/uploads/:id', auth, async (req, res) => {
    withUpload(req);
    cancelBodyDeadline(req);
    watchBody(req, res, deps.config.http.uploadIdleMs, deps.config.http.uploadMaxMs);
    await handle(req, res);
  });
  return router;
}

/**
 * The last byte arrived: the upload becomes a photo with the upload's id, in one transaction —
 * the reservation row is removed and the photo row inserted (quota-neutral), and the file moves
 * into the photo store before the commit. A receiver who blocked the sender gets no special
 * case, exactly as with POST /send_photo (spec/openapi.yaml POST /blocks): the photo is stored,
 * counted and swept like any other, so its sender sees the same answers blocked or not.
 */
async function completeUpload(deps: AppDeps, dir: string, upload: Upload, senderId: string): Promise<void> {
  const from = join(dir, upload.id);
  const name = newPhotoName();
  const to = join(photoDir(deps), name);
  await withTransaction(deps.pool, async (client) => {
    const r = await client.query<{ receiver_id: string; size: string; sender_device_id: number | null }>(
      `DELETE FROM photo_uploads WHERE id = $1 AND sender_id = $2 RETURNING receiver_id, size, sender_device_id`,
      [upload.id, senderId],
    );
    const row = r.rows[0];
    if (!row) throw asTusError(noUpload());
    await client.query(
      `INSERT INTO photos (id, sender_id, receiver_id, file_path, size, created_at, sender_device_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        upload.id,
        senderId,
        row.receiver_id,
        name,
        row.size,
        new Date(deps.clock.now()),
        row.sender_device_id,
      ],
    );
    // Its readers are the devices active when it is complete (an upload may take a while).
    await addPhotoTargets(client, upload.id, senderId, row.sender_device_id ?? 0, row.receiver_id);
    await rename(from, to);
  });
}
