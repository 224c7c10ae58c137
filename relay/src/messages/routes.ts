// Messages (issue 3; spec/openapi.yaml tag "messages"): POST /send_message, GET /get_messages,
// POST /ack. Bodies are opaque base64 ciphertext (spec/protocol.md §8), never logged.
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import {
  assertSessionLive,
  authOf,
  requireAuth,
  requireTokenSessionInStatement,
  sessionBeforeErrors,
  sessionEnded,
} from '../auth/require-auth.js';
import type { AppDeps } from '../deps.js';
import { base64Bytes } from '../http/base64.js';
import { jsonBody } from '../http/body.js';
import { HttpError, notFound } from '../http/http-error.js';
import { parse } from '../http/validate.js';
import { rateLimited } from '../limits/rate-limited.js';
import { ackPhotos } from '../photos/store.js';
import { lookupName } from '../users/accounts.js';
import { ackMessages, ackMessagesSilently, insertMessage, listMessages } from './store.js';
import { effectiveCursor } from './stream.js';

/** Idempotency key: a UUID fits; any short token of URL-safe characters is accepted. */
const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Most ids in one acknowledgement: bounds the statement and the receipts it writes. */
export const MAX_ACK_IDS = 500;
/** Most envelopes per GET /get_messages page. */
export const MAX_PAGE = 500;
const DEFAULT_PAGE = 100;

const cursorParam = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a non-negative integer')
  .transform(Number);

export function messageRoutes(deps: AppDeps): Router {
  const router = Router();
  const auth = requireAuth(deps);
  const maxBytes = deps.config.limits.messageBytes;
  const SendSchema = z.strictObject({
    to: z.string().min(1).max(64),
    client_id: z.string().regex(CLIENT_ID, 'must be 1-64 characters of A-Z a-z 0-9 _ -'),
    body: base64Bytes(maxBytes),
  });
  const sendLimit = Math.ceil(maxBytes / 3) * 4 + 1024;
  const ListSchema = z.strictObject({
    cursor: cursorParam.optional(),
    limit: z
      .string()
      .regex(/^\d{1,4}$/, 'must be an integer')
      .transform(Number)
      .pipe(z.number().int().min(1).max(MAX_PAGE))
      .optional(),
  });
  const AckSchema = z
    .strictObject({
      ids: z.array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)).max(MAX_ACK_IDS).optional(),
      no_receipt_ids: z
        .array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER))
        .max(MAX_ACK_IDS)
        .optional(),
      photo_ids: z.array(z.string().max(64)).max(MAX_ACK_IDS).optional(),
    })
    .refine(
      (a) => (a.ids?.length ?? 0) + (a.no_receipt_ids?.length ?? 0) + (a.photo_ids?.length ?? 0) > 0,
      'nothing to acknowledge',
    );

  // The hot path: the session is checked inside the send statement (one round trip per message,
  // not two); refusals that come before the statement check it first, as requireAuth would.
  const tokenOnly = requireTokenSessionInStatement(deps);
  router.post(
    '/send_message',
    tokenOnly,
    jsonBody(sendLimit),
    sessionBeforeErrors(deps),
    async (req: Request, res: Response) => {
      const ctx = authOf(req);
      const { userId } = ctx;
      let body: z.infer<typeof SendSchema>;
      try {
        body = parse(SendSchema, req.body);
      } catch (err) {
        await assertSessionLive(deps, ctx);
        throw err;
      }
      const now = new Date(deps.clock.now());
      // A name no user can have still goes through the statement, so it spends a token too.
      const to = lookupName(body.to) ?? '';
      const out = await insertMessage(deps.pool, {
        senderId: userId,
        sessionId: ctx.sessionId,
        to,
        clientId: body.client_id,
        body: body.body,
        now,
        bucket: deps.config.messaging.send,
        mailboxCap: deps.config.messaging.maxPendingMessages,
      });
      switch (out.kind) {
        case 'session_revoked':
          throw sessionEnded();
        case 'rate_limited':
          throw rateLimited(out.retryAfterSeconds, 'sending too fast');
        case 'mailbox_full':
          throw new HttpError(
            409,
            'mailbox_full',
            'the recipient has too many unacknowledged messages; try later',
          );
        case 'no_recipient':
          throw notFound('no such user');
        case 'conflict':
          throw new HttpError(409, 'client_id_reused', 'client_id was already used for a different message');
        case 'dropped':
          res.status(201).json({ id: out.id, created_at: out.createdAt.toISOString(), duplicate: false });
          return;
        case 'duplicate':
          res.status(200).json({ id: out.id, created_at: out.createdAt.toISOString(), duplicate: true });
          return;
        case 'stored':
          // After the commit, outside the insert transaction (issue 3: NOTIFY inside costs 43–63 %).
          deps.notifier.publish({
            kind: 'stream',
            userId: out.receiverId,
            seq: out.seq,
            item: {
              type: 'message',
              seq: out.seq,
              id: out.id,
              from: out.sender,
              body: body.body.toString('base64'),
              created_at: out.createdAt.toISOString(),
            },
          });
          res.status(201).json({ id: out.id, created_at: out.createdAt.toISOString(), duplicate: false });
      }
    },
  );

  router.get('/get_messages', auth, async (req, res) => {
    const q = parse(ListSchema, req.query);
    const limit = q.limit ?? DEFAULT_PAGE;
    const { userId } = authOf(req);
    let cursor = q.cursor ?? 0;
    // One extra row tells whether another page follows.
    let rows = await listMessages(deps.pool, userId, cursor, limit + 1);
    if (rows.length === 0 && cursor > 0) {
      // Nothing after the cursor: fine, unless the cursor is from before a database reset.
      const fixed = await effectiveCursor(deps.pool, userId, cursor);
      if (fixed !== cursor) {
        cursor = fixed;
        rows = await listMessages(deps.pool, userId, cursor, limit + 1);
      }
    }
    const page = rows.slice(0, limit);
    res.json({
      messages: page,
      next_cursor: page.length ? (page[page.length - 1]?.seq ?? cursor) : cursor,
      has_more: rows.length > limit,
    });
  });

  router.post('/ack', auth, jsonBody('32kb'), async (req, res) => {
    const { userId } = authOf(req);
    const body = parse(AckSchema, req.body);
    const now = new Date(deps.clock.now());
    // Receipt-less first: an id in both lists gets no receipt.
    const silent = await ackMessagesSilently(deps.pool, userId, body.no_receipt_ids ?? [], now);
    const receipts = await ackMessages(deps.pool, userId, body.ids ?? [], now);
    for (const r of receipts) deps.notifier.publish({ kind: 'stream', userId: r.userId, seq: r.seq });
    const photos = await ackPhotos(deps, userId, body.photo_ids ?? []);
    res.json({ acked: receipts.length + silent, photos_acked: photos });
  });

  return router;
}
