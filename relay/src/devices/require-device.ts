// The "device session" rule (spec/protocol.md §16; spec/openapi.yaml POST /keys): a login session
// is device-less until POST /keys binds it to a device. Routes that read or send as a device —
// GET /keys/{username}, /provisioning reads and writes, and the message routes, /ws and photos —
// answer 409 device_required to a device-less session. One definition for every route.
import type { NextFunction, Request, Response } from 'express';
import { type AuthContext, authOf } from '../auth/require-auth.js';
import type { Queryable } from '../db/pool.js';
import { HttpError } from '../http/http-error.js';
import { deviceOfSession } from './store.js';

export const deviceRequired = () =>
  new HttpError(
    409,
    'device_required',
    'this session has no device yet: set it up with POST /keys (link it, resume it or start over)',
  );

/**
 * The device of an authenticated caller (requireAuth looked it up), or 409 device_required. For
 * a token-only route (deviceId not looked up), use deviceOfCaller.
 */
export function requireDevice(ctx: AuthContext): number {
  if (ctx.deviceId === undefined) throw new HttpError(500, 'internal', 'internal error');
  if (ctx.deviceId === null) throw deviceRequired();
  return ctx.deviceId;
}

/** The same for a route that checked only the token: reads the session's device (one query). */
export async function deviceOfCaller(db: Queryable, ctx: AuthContext): Promise<number> {
  if (ctx.deviceId === undefined) ctx.deviceId = await deviceOfSession(db, ctx.sessionId);
  return requireDevice(ctx);
}

/** Middleware after requireAuth: 409 device_required unless the session is bound to a device. */
export function requireDeviceSession() {
  return (req: Request, _res: Response, next: NextFunction) => {
    requireDevice(authOf(req));
    next();
  };
}
