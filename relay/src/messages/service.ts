// Sending and acknowledging, once for both transports (spec/openapi.yaml POST /send_message and
// POST /ack; GET /ws frames "send" and "ack"): the validation, limits, idempotency, rate limit,
// error codes and answers are defined here and nowhere else. The HTTP routes (routes.ts) and
// the WebSocket hub (src/ws/hub.ts) only move bytes in and out.
import { z } from 'zod';
import { type AuthContext, assertSessionLive, sessionEnded } from '../auth/require-auth.js';
import { retryOnDeadlock } from '../db/deadlock.js';
import type { AppDeps } from '../deps.js';
import { base64Bytes } from '../http/base64.js';
import { HttpError, notFound } from '../http/http-error.js';
import { parse } from '../http/validate.js';
import { rateLimited } from '../limits/rate-limited.js';
import { ackPhotos } from '../photos/store.js';
import { lookupName } from '../users/accounts.js';
import { GroupCommit } from './group-commit.js';
import { ackMessages, ackMessagesSilently } from './store.js';

/** Idempotency key: a UUID fits; any short token of URL-safe characters is accepted. */
const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Most ids in one acknowledgement: bounds the statement and the receipts it writes. */
export const MAX_ACK_IDS = 500;
/** Largest acknowledgement body, bytes (500 ids of each kind fit). */
export const ACK_BODY_BYTES = 32 * 1024;

/** The answer to a send or an acknowledgement: an HTTP status and its JSON body. */
export interface ApiResult {
  status: number;
  body: Record<string, unknown>;
}

export interface MessageService {
  /** Largest send body (JSON text), bytes: the base64 of the largest message plus room for the fields. */
  readonly sendBodyBytes: number;
  /** Validates and stores one send; throws HttpError with the spec's code when refused. */
  send(ctx: AuthContext, raw: unknown): Promise<ApiResult>;
  /** Validates and applies one acknowledgement; throws HttpError when refused. */
  ack(ctx: AuthContext, raw: unknown): Promise<ApiResult>;
  readonly groupCommit: GroupCommit;
}

const services = new WeakMap<AppDeps, MessageService>();

/** The one service of a relay (one group-commit queue per process, shared by both transports). */
export function messageService(deps: AppDeps): MessageService {
  let s = services.get(deps);
  if (!s) {
    s = createService(deps);
    services.set(deps, s);
  }
  return s;
}

function createService(deps: AppDeps): MessageService {
  const maxBytes = deps.config.limits.messageBytes;
  const SendSchema = z.strictObject({
    to: z.string().min(1).max(64),
    client_id: z.string().regex(CLIENT_ID, 'must be 1-64 characters of A-Z a-z 0-9 _ -'),
    body: base64Bytes(maxBytes),
  });
  const ids = z.array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)).max(MAX_ACK_IDS);
  const AckSchema = z
    .strictObject({
      ids: ids.optional(),
      no_receipt_ids: ids.optional(),
      photo_ids: z.array(z.string().max(64)).max(MAX_ACK_IDS).optional(),
    })
    .refine(
      (a) => (a.ids?.length ?? 0) + (a.no_receipt_ids?.length ?? 0) + (a.photo_ids?.length ?? 0) > 0,
      'nothing to acknowledge',
    );
  const groupCommit = new GroupCommit(deps.pool, deps.logger);

  /** Validates, but first answers a dead session as requireAuth would (spec: 401 before 400). */
  async function validate<S extends z.ZodType>(
    schema: S,
    ctx: AuthContext,
    raw: unknown,
  ): Promise<z.output<S>> {
    try {
      return parse(schema, raw);
    } catch (err) {
      await assertSessionLive(deps, ctx);
      throw err;
    }
  }

  return {
    sendBodyBytes: Math.ceil(maxBytes / 3) * 4 + 1024,
    groupCommit,

    async send(ctx, raw) {
      const body = await validate(SendSchema, ctx, raw);
      const now = new Date(deps.clock.now());
      // A name no user can have still goes through the statement, so it spends a token too.
      const to = lookupName(body.to) ?? '';
      const out = await groupCommit.submit({
        senderId: ctx.userId,
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
          return {
            status: 201,
            body: { id: out.id, created_at: out.createdAt.toISOString(), duplicate: false },
          };
        case 'duplicate':
          return {
            status: 200,
            body: { id: out.id, created_at: out.createdAt.toISOString(), duplicate: true },
          };
        case 'stored': {
          const createdAt = out.createdAt.toISOString();
          // After the commit, outside the insert transaction (relay/BENCHMARKS.md: a NOTIFY
          // inside it serialises commits).
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
              created_at: createdAt,
            },
          });
          return { status: 201, body: { id: out.id, created_at: createdAt, duplicate: false } };
        }
      }
    },

    async ack(ctx, raw) {
      // The session is checked here, for both paths: a socket authenticated once must not keep
      // deleting mail and sending receipts after its session ended (spec/openapi.yaml GET /ws).
      await assertSessionLive(deps, ctx);
      const body = parse(AckSchema, raw);
      const { userId } = ctx;
      const now = new Date(deps.clock.now());
      // Receipt-less first: an id in both lists gets no receipt.
      const silent = await retryOnDeadlock(() =>
        ackMessagesSilently(deps.pool, userId, body.no_receipt_ids ?? [], now),
      );
      const receipts = await retryOnDeadlock(() => ackMessages(deps.pool, userId, body.ids ?? [], now));
      for (const r of receipts) deps.notifier.publish({ kind: 'stream', userId: r.userId, seq: r.seq });
      const photos = await ackPhotos(deps, userId, body.photo_ids ?? []);
      return { status: 200, body: { acked: receipts.length + silent, photos_acked: photos } };
    },
  };
}
