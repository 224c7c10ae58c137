// Linked devices (spec/openapi.yaml tag "devices"; spec/protocol.md §16): the account's device
// list, unlinking a device, and the provisioning addresses a new device is linked through.
import express, { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { authOf, requireAuth } from '../auth/require-auth.js';
import { isFreshlyAuthenticated } from '../auth/sessions.js';
import { withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { base64Bytes } from '../http/base64.js';
import { jsonBody } from '../http/body.js';
import { HttpError, notFound } from '../http/http-error.js';
import { parse } from '../http/validate.js';
import { rateLimited, takeOrRefuse } from '../limits/rate-limited.js';
import { appendAccountItem } from '../messages/stream.js';
import { MAX_PROVISIONING_BYTES, MAX_PROVISIONING_PQ_KEY_BYTES, PROVISIONING_BUCKET } from './limits.js';
import { openAddress, parseAddress, putMessage, readAddress, takeMessage } from './provisioning.js';
import { requireDevice } from './require-device.js';
import { deviceState, listDevices, lockAccount, removeDevices } from './store.js';
import { deviceIdParam, deviceKind, deviceName } from './validate.js';

const OCTET_STREAM = 'application/octet-stream';

const OpenSchema = z.strictObject({
  pq_key: base64Bytes(MAX_PROVISIONING_PQ_KEY_BYTES),
  name: deviceName,
  kind: deviceKind,
});

const expired = () =>
  new HttpError(410, 'provisioning_expired', 'this link code has expired: show a new one on the new device');
const used = () => new HttpError(409, 'provisioning_used', 'this link code was already used');
const noAddress = () => notFound('no such link code');

/** The address path segment, or 404 (a malformed address names nothing, like an unknown one). */
function addressOf(req: Request): Buffer {
  const a = parseAddress(String(req.params.address));
  if (!a) throw noAddress();
  return a;
}

// Reads an octet-stream body of at most MAX_PROVISIONING_BYTES with the same parser family and
// errors as JSON bodies (src/http/body.ts, src/http/errors.ts: too large → 413, cut → 400).
const rawBody = express.raw({ limit: MAX_PROVISIONING_BYTES, type: OCTET_STREAM });
function readRaw(req: Request, res: Response): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    rawBody(req, res, (err?: unknown) => {
      if (err) reject(err);
      else if (Buffer.isBuffer(req.body) && req.body.length > 0) resolve(req.body);
      else reject(new HttpError(400, 'invalid_request', 'the provisioning message must not be empty'));
    });
  });
}

export function deviceRoutes(deps: AppDeps): Router {
  const router = Router();
  const auth = requireAuth(deps);
  const now = () => new Date(deps.clock.now());
  // Every provisioning route takes a token of the account's bucket first (polling included).
  const limited = async (req: Request, _res: Response, next: (err?: unknown) => void) => {
    await takeOrRefuse(deps, authOf(req).userId, PROVISIONING_BUCKET, 'too many provisioning requests');
    next();
  };

  router.get('/devices', auth, async (req, res) => {
    const { userId, deviceId } = authOf(req);
    res.json({ devices: await listDevices(deps.pool, userId, deviceId) });
  });

  // Unlink (a device session only): removing ANOTHER device needs a fresh second factor (the reauth rule of POST /keys),
  // removing the caller's own does not. One transaction: its sessions are revoked (sockets close
  // at commit), its prekeys, mailbox and provisioning addresses deleted, and the account's other
  // devices get a devices_changed item.
  router.delete('/devices/:device_id', auth, async (req, res) => {
    const ctx = authOf(req);
    // Only a device of the account unlinks (Signal: device management from a linked device): a
    // device-less login — a thief with a TOTP code is fresh — could otherwise silently remove
    // every device, where a start over at least warns every contact (spec/protocol.md §16.9).
    requireDevice(ctx);
    const id = parse(z.strictObject({ device_id: deviceIdParam }), req.params).device_id;
    const t = now();
    const published = await withTransaction(deps.pool, async (tx) => {
      await lockAccount(tx, ctx.userId);
      if ((await deviceState(tx, ctx.userId, id)) !== 'active') throw notFound('no such device');
      if (id !== ctx.deviceId && !(await isFreshlyAuthenticated(tx, ctx.sessionId, t.getTime())))
        throw new HttpError(
          403,
          'reauth_required',
          'removing another device needs a fresh code: confirm with POST /session/reauth (TOTP or recovery code) and retry within 5 minutes',
        );
      await removeDevices(tx, ctx.userId, { only: id }, 'unlinked', t);
      return appendAccountItem(tx, 'devices_changed', ctx.userId, ctx.sessionId, t);
    });
    deps.notifier.publish({ kind: 'stream', userId: published.userId, seq: published.seq });
    res.status(204).end();
  });

  router.post('/provisioning', auth, limited, jsonBody('4kb'), async (req, res) => {
    const { userId, sessionId } = authOf(req);
    const body = parse(OpenSchema, req.body);
    const out = await withTransaction(deps.pool, (tx) =>
      openAddress(tx, userId, sessionId, { pqKey: body.pq_key, name: body.name, kind: body.kind }, now()),
    );
    if (out.kind === 'too_many')
      throw rateLimited(out.retryAfterSeconds, 'too many open link codes; use one or wait for one to expire');
    res.status(201).json({ address: out.address, expires_at: out.expiresAt.toISOString() });
  });

  // Read by the linking device (same account, a device session) to check the QR's key hash and
  // show what is being linked.
  router.get('/provisioning/:address', auth, limited, async (req, res) => {
    const ctx = authOf(req);
    const address = addressOf(req);
    requireDevice(ctx);
    const row = await readAddress(deps.pool, ctx.userId, address);
    if (!row) throw noAddress();
    if (row.expiresAt.getTime() <= deps.clock.now()) throw expired();
    if (row.used) throw used();
    res.json({
      pq_key: row.pqKey.toString('base64'),
      name: row.name,
      kind: row.kind,
      created_at: row.createdAt.toISOString(),
      expires_at: row.expiresAt.toISOString(),
    });
  });

  router.put('/provisioning/:address', auth, limited, async (req, res) => {
    const ctx = authOf(req);
    const address = addressOf(req);
    const device = requireDevice(ctx);
    // Everything that needs no body is refused before any of it is read.
    if (req.is(OCTET_STREAM) !== OCTET_STREAM)
      throw new HttpError(415, 'unsupported_media_type', `this route expects ${OCTET_STREAM}`);
    const declared = req.get('content-length');
    if (declared !== undefined && Number(declared) > MAX_PROVISIONING_BYTES)
      throw new HttpError(413, 'payload_too_large', `at most ${MAX_PROVISIONING_BYTES} bytes`);
    const refuse = async () => {
      const row = await readAddress(deps.pool, ctx.userId, address);
      if (!row) return noAddress();
      if (row.used) return used();
      if (row.expiresAt.getTime() <= deps.clock.now()) return expired();
      return null;
    };
    const early = await refuse();
    if (early) throw early;
    const message = await readRaw(req, res);
    const stored = await withTransaction(deps.pool, (tx) =>
      putMessage(tx, ctx.userId, device, address, message, now()),
    );
    if (!stored) throw (await refuse()) ?? used();
    res.status(204).end();
  });

  // Polled by the new device (the session that opened the address, no other) until the message
  // is there: 204 while waiting, then 200 once with the bytes (the address is deleted).
  router.get('/provisioning/:address/message', auth, limited, async (req, res) => {
    const ctx = authOf(req);
    const address = addressOf(req);
    const out = await takeMessage(deps.pool, ctx.userId, ctx.sessionId, address, now());
    switch (out.kind) {
      case 'unknown':
        throw noAddress();
      case 'expired':
        throw expired();
      case 'waiting':
        res.status(204).end();
        return;
      case 'message':
        res.set('Content-Type', OCTET_STREAM).send(out.message);
    }
  });

  return router;
}
