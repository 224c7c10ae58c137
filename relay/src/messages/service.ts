// Sending and acknowledging, once for both transports (spec/openapi.yaml POST /send_message and
// POST /ack; GET /ws frames "send" and "ack"): the validation, limits, idempotency, rate limit,
// error codes and answers are defined here and nowhere else. The HTTP routes (routes.ts) and
// the WebSocket hub (src/ws/hub.ts) only move bytes in and out.
import { z } from 'zod';
import { type AuthContext, assertSessionLive, sessionEnded } from '../auth/require-auth.js';
import { retryOnDeadlock } from '../db/deadlock.js';
import type { AppDeps } from '../deps.js';
import { deviceOfCaller, deviceRequired } from '../devices/require-device.js';
import { base64Bytes } from '../http/base64.js';
import { badRequest, HttpError, notFound } from '../http/http-error.js';
import { parse } from '../http/validate.js';
import { rateLimited } from '../limits/rate-limited.js';
import { ackPhotos } from '../photos/store.js';
import { lookupName } from '../users/accounts.js';
import { GroupCommit } from './group-commit.js';
import { ackMessages, ackMessagesSilently, type StoredCopy } from './store.js';

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

/**
 * The device of the caller's session (409 device_required while it is device-less; spec/protocol.md
 * §16): a socket's or request's context remembers it, else one query (src/devices).
 */
export async function deviceOf(deps: AppDeps, ctx: AuthContext): Promise<number> {
  return deviceOfCaller(deps.pool, ctx);
}

function createService(deps: AppDeps): MessageService {
  const maxBytes = deps.config.limits.messageBytes;
  // DEVICE_LIMIT (spec/protocol.md §16): the most copies of each kind in one send.
  const deviceLimit = deps.config.messaging.deviceLimit;
  const deviceId = z
    .number()
    .int()
    .min(1)
    .max(2 ** 31 - 1);
  const copy = z.strictObject({ device_id: deviceId, body: base64Bytes(maxBytes) });
  const distinct = (cs: { device_id: number }[]) => new Set(cs.map((c) => c.device_id)).size === cs.length;
  // Sesame fan-out (spec/openapi.yaml POST /send_message): one copy per recipient device and one
  // sync copy per other device of the sender, each at most MAX_MESSAGE_BYTES, at most
  // DEVICE_LIMIT of each; the whole body is bounded by sendBodyBytes.
  const SendSchema = z.strictObject({
    to: z.string().min(1).max(64),
    client_id: z.string().regex(CLIENT_ID, 'must be 1-64 characters of A-Z a-z 0-9 _ -'),
    messages: z.array(copy).min(1).max(deviceLimit).refine(distinct, 'one copy per device'),
    own: z
      .array(copy)
      .max(Math.max(0, deviceLimit - 1))
      .refine(distinct, 'one copy per device')
      .default([]),
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

  /** The SendResult of spec/openapi.yaml: the first recipient copy's id and every copy's. */
  const result = (copies: StoredCopy[], createdAt: Date, duplicate: boolean) => {
    const lead = copies.find((c) => !c.own) ?? copies[0];
    return {
      id: lead?.id ?? 0,
      created_at: createdAt.toISOString(),
      duplicate,
      copies: copies.map((c) => ({ device_id: c.deviceId, own: c.own, id: c.id })),
    };
  };

  return {
    // DEVICE_LIMIT recipient copies and DEVICE_LIMIT - 1 sync copies of the largest body in
    // base64, plus room for the fields.
    sendBodyBytes: (2 * deviceLimit - 1) * (Math.ceil(maxBytes / 3) * 4 + 64) + 1024,
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
        copies: [
          ...body.messages.map((c) => ({ deviceId: c.device_id, own: false, body: c.body })),
          ...body.own.map((c) => ({ deviceId: c.device_id, own: true, body: c.body })),
        ],
        now,
        bucket: deps.config.messaging.send,
        mailboxCap: deps.config.messaging.maxPendingMessages,
      });
      switch (out.kind) {
        case 'session_revoked':
          throw sessionEnded();
        case 'device_required':
          throw deviceRequired();
        case 'rate_limited':
          throw rateLimited(out.retryAfterSeconds, 'sending too fast');
        case 'mailbox_full':
          throw new HttpError(
            409,
            'mailbox_full',
            'a receiving device has too many unacknowledged messages; try later',
          );
        case 'no_recipient':
          throw notFound('no such user');
        case 'own_account':
          throw badRequest('to: send to your own other devices with own, not to your own username');
        case 'stale_devices':
          throw new HttpError(
            409,
            'stale_devices',
            'the device lists changed; seal for these devices and resend',
            {
              devices: { recipient: out.recipient, own: out.own },
            },
          );
        case 'conflict':
          throw new HttpError(409, 'client_id_reused', 'client_id was already used for a different message');
        case 'duplicate':
          return { status: 200, body: result(out.copies, out.createdAt, true) };
        case 'stored': {
          const createdAt = out.createdAt.toISOString();
          // After the commit, outside the insert transaction (relay/BENCHMARKS.md: a NOTIFY
          // inside it serialises commits). One event per copy, for that device's sockets only; a
          // blocked recipient's copies are tombstones with no stream place.
          const byId = new Map(body.messages.map((c) => [c.device_id, c.body]));
          const ownById = new Map(body.own.map((c) => [c.device_id, c.body]));
          for (const c of out.copies) {
            if (c.receiverId === null || c.seq === null) continue;
            const bytes = (c.own ? ownById : byId).get(c.deviceId) as Buffer;
            deps.notifier.publish({
              kind: 'stream',
              userId: c.receiverId,
              seq: c.seq,
              deviceId: c.deviceId,
              item: {
                type: 'message',
                seq: c.seq,
                id: c.id,
                from: out.sender,
                from_device: out.senderDevice,
                body: bytes.toString('base64'),
                created_at: createdAt,
              },
            });
          }
          return { status: 201, body: result(out.copies, out.createdAt, false) };
        }
      }
    },

    async ack(ctx, raw) {
      // The session is checked here, for both paths: a socket authenticated once must not keep
      // deleting mail and sending receipts after its session ended (spec/openapi.yaml GET /ws).
      const device = await assertSessionLive(deps, ctx);
      if (device === null) throw deviceRequired();
      const body = parse(AckSchema, raw);
      const { userId } = ctx;
      const now = new Date(deps.clock.now());
      // Receipt-less first: an id in both lists gets no receipt.
      const silent = await retryOnDeadlock(() =>
        ackMessagesSilently(deps.pool, userId, device, body.no_receipt_ids ?? [], now),
      );
      const acked = await retryOnDeadlock(() => ackMessages(deps.pool, userId, device, body.ids ?? [], now));
      for (const r of acked.receipts) deps.notifier.publish({ kind: 'stream', userId: r.userId, seq: r.seq });
      const photos = await ackPhotos(deps, userId, device, body.photo_ids ?? []);
      return { status: 200, body: { acked: acked.acked + silent, photos_acked: photos } };
    },
  };
}
