// Messages (spec/openapi.yaml tag "messages"): POST /send_message, GET /get_messages,
// POST /ack. Bodies are opaque base64 ciphertext (spec/protocol.md §8), never logged.
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import {
  authOf,
  requireAuth,
  requireTokenSessionInStatement,
  sessionBeforeErrors,
} from '../auth/require-auth.js';
import type { AppDeps } from '../deps.js';
import { jsonBody } from '../http/body.js';
import { parse } from '../http/validate.js';
import { ACK_BODY_BYTES, deviceOf, messageService } from './service.js';
import { listMessages } from './store.js';
import { effectiveCursor, MAX_CURSOR } from './stream.js';

export { MAX_ACK_IDS } from './service.js';
/** Most envelopes per GET /get_messages page. */
export const MAX_PAGE = 500;
const DEFAULT_PAGE = 100;

const cursorParam = z
  .string()
  .regex(/^\d{1,16}$/, 'must be a non-negative integer')
  .transform(Number)
  .pipe(z.number().max(MAX_CURSOR, 'must be at most 2^53 - 1'));

export function messageRoutes(deps: AppDeps): Router {
  const router = Router();
  const auth = requireAuth(deps);
  const service = messageService(deps);
  const ListSchema = z.strictObject({
    cursor: cursorParam.optional(),
    limit: z
      .string()
      .regex(/^\d{1,4}$/, 'must be an integer')
      .transform(Number)
      .pipe(z.number().int().min(1).max(MAX_PAGE))
      .optional(),
  });

  // The hot path: the session is checked inside the send statement (one round trip per message,
  // not two); refusals that come before the statement check it first, as requireAuth would.
  const tokenOnly = requireTokenSessionInStatement(deps);
  router.post(
    '/send_message',
    tokenOnly,
    jsonBody(service.sendBodyBytes),
    sessionBeforeErrors(deps),
    async (req: Request, res: Response) => {
      const r = await service.send(authOf(req), req.body);
      res.status(r.status).json(r.body);
    },
  );

  router.get('/get_messages', auth, async (req, res) => {
    const q = parse(ListSchema, req.query);
    const limit = q.limit ?? DEFAULT_PAGE;
    const ctx = authOf(req);
    const { userId } = ctx;
    // A device's own mailbox only (spec/openapi.yaml GET /get_messages): the session's device.
    const device = await deviceOf(deps, ctx);
    let cursor = q.cursor ?? 0;
    // One extra row tells whether another page follows.
    let rows = await listMessages(deps.pool, userId, device, cursor, limit + 1);
    if (rows.length === 0 && cursor > 0) {
      // Nothing after the cursor: fine, unless the cursor is from before a database reset.
      const fixed = await effectiveCursor(deps.pool, userId, cursor);
      if (fixed !== cursor) {
        cursor = fixed;
        rows = await listMessages(deps.pool, userId, device, cursor, limit + 1);
      }
    }
    const page = rows.slice(0, limit);
    res.json({
      messages: page,
      next_cursor: page.length ? (page[page.length - 1]?.seq ?? cursor) : cursor,
      has_more: rows.length > limit,
    });
  });

  // The service checks the session itself (one check for the HTTP and the WebSocket path).
  router.post(
    '/ack',
    tokenOnly,
    jsonBody(ACK_BODY_BYTES),
    sessionBeforeErrors(deps),
    async (req: Request, res: Response) => {
      const r = await service.ack(authOf(req), req.body);
      res.status(r.status).json(r.body);
    },
  );

  return router;
}
