// Sends and acknowledgements over the open, authenticated WebSocket, else over HTTP
// (spec/openapi.yaml GET /ws: a send frame is POST /send_message over the socket, an ack frame
// POST /ack, with the same rule, idempotency and answers). The socket saves the per-request
// HTTP work — a request parsed and routed, a token checked — on a connection already open.
//
// A request the socket cannot get answered (not open, closed with the request outstanding, no
// answer within WS_REQUEST_TIMEOUT_MS) is made again over HTTP with the same body: a send keeps
// its client_id, so if the relay stored it the first time HTTP answers `duplicate` with the
// same id and nothing is stored or delivered twice; an acknowledgement of ids already
// acknowledged acknowledges nothing more. An error the relay answered on the socket is the
// answer: it is not retried here (the outbox decides, as after an HTTP error).

import { ackBody, type RelayApi, sendMessageBody } from './api.ts';
import { ApiError } from './errors.ts';
import type { AckResultWire, SendMessageResultWire } from './wire.ts';
import { type RelaySocket, type SocketRequest, SocketUnavailable } from './ws.ts';

/** Which path carried a request that got an answer (for the tests and the bench). */
export type RequestPath = 'socket' | 'http';

export interface SocketFirstOptions {
  readonly api: Pick<RelayApi, 'sendMessage' | 'ack'>;
  /** The app's socket, when there is one. */
  readonly socket: () => RelaySocket | null;
  readonly onPath?: (kind: SocketRequest['type'], path: RequestPath) => void;
  /** Per-request wait on the socket (default WS_REQUEST_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

/** overSocket's "not answered on the socket: use HTTP". */
const VIA_HTTP = Symbol('via http');

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export class SocketFirst {
  constructor(private readonly o: SocketFirstOptions) {}

  async sendMessage(to: string, clientId: string, body: Uint8Array): Promise<SendMessageResultWire> {
    const answer = await this.overSocket({ type: 'send', message: sendMessageBody(to, clientId, body) });
    if (answer === VIA_HTTP) {
      const result = await this.o.api.sendMessage(to, clientId, body);
      this.o.onPath?.('send', 'http');
      return result;
    }
    if (!isObject(answer) || typeof answer.id !== 'number' || typeof answer.created_at !== 'string')
      throw new ApiError(0, 'bad_response', 'send answer has no message id');
    this.o.onPath?.('send', 'socket');
    return {
      id: answer.id,
      created_at: answer.created_at,
      duplicate: answer.duplicate === true,
      copies: Array.isArray(answer.copies) ? (answer.copies as SendMessageResultWire['copies']) : [],
    };
  }

  async ack(
    ids: readonly number[],
    photoIds: readonly string[] = [],
    noReceiptIds: readonly number[] = [],
  ): Promise<AckResultWire> {
    const answer = await this.overSocket({ type: 'ack', ack: ackBody(ids, photoIds, noReceiptIds) });
    if (answer === VIA_HTTP) {
      const result = await this.o.api.ack(ids, photoIds, noReceiptIds);
      this.o.onPath?.('ack', 'http');
      return result;
    }
    if (!isObject(answer) || typeof answer.acked !== 'number')
      throw new ApiError(0, 'bad_response', 'ack answer has no count');
    this.o.onPath?.('ack', 'socket');
    return { acked: answer.acked, photos_acked: Number(answer.photos_acked) || 0 };
  }

  /** The 2xx body of the socket's answer, or VIA_HTTP when the request must go over HTTP. */
  private async overSocket(frame: SocketRequest): Promise<unknown> {
    const socket = this.o.socket();
    if (!socket) return VIA_HTTP;
    try {
      return await socket.request(frame, this.o.timeoutMs);
    } catch (err) {
      if (err instanceof SocketUnavailable) return VIA_HTTP;
      throw err;
    }
  }
}
