// The HTTP half of the transport: JSON requests to the relay behind the host's /api prefix,
// the access token held in memory only, and refresh-token rotation. A 401 on an
// authenticated call triggers ONE refresh (shared by concurrent callers) and one retry; a
// failed refresh ends the session (onSessionEnded), because the relay rotates refresh
// tokens and treats a reused one as theft (spec/openapi.yaml POST /session/refresh).
//
// Every call has a deadline for the relay's answer to begin (answerDeadlineMs): a fetch can
// otherwise wait forever on a link that died without a reset (a network change, a stalled relay
// or proxy), and whatever awaits it waits too — a token refresh hanging there would hold the
// WebSocket's reconnect for good (transport/ws.ts awaits the token before every connect). Past
// the deadline the call fails as a network error, the retryable kind (transport/errors.ts), as if
// the connection had dropped. Only the wait for the answer's status and headers is bounded: a
// body streamed after them (a photo, GET /get_photo) can take as long as it takes.
import { base64urlnopad } from '@scure/base';
import { ApiError, apiErrorFrom } from './errors.ts';

/**
 * How long the relay's answer may take to begin, the request body sent. The relay answers in
 * milliseconds; this only ends a wait that would otherwise have none. Generous, because a refresh
 * given up after the relay executed it leaves this client holding the used refresh token: the
 * relay takes it again, with the same refresh_id (refreshTokens), as a retry only within 120 s of
 * that refresh, and as reuse, which revokes the session, after (spec/openapi.yaml POST
 * /session/refresh).
 */
export const HTTP_ANSWER_TIMEOUT_MS = 30_000;
/**
 * The slowest upload the deadline allows for, in bytes a second: a large body (PUT
 * /provisioning/{address} carries chat history) adds its sending time at this rate.
 */
export const HTTP_SLOWEST_UPLOAD_BYTES_PER_S = 8 * 1024;

/** The deadline for a call whose request body has `bodyBytes` bytes. */
export function answerDeadlineMs(bodyBytes: number): number {
  return HTTP_ANSWER_TIMEOUT_MS + Math.ceil((bodyBytes / HTTP_SLOWEST_UPLOAD_BYTES_PER_S) * 1000);
}

export interface Tokens {
  readonly accessToken: string;
  readonly refreshToken: string;
  /** When the access token expires (ms since the epoch), if known. */
  readonly accessExpiresAt?: number;
}

export interface HttpOptions {
  /** Where the relay is mounted; '/api' behind the django host and the Vite dev proxy. */
  readonly baseUrl: string;
  readonly fetch?: typeof fetch;
  /** Called with each new token pair (to persist the refresh token in the encrypted store). */
  readonly onTokens?: (tokens: Tokens) => void;
  /** Called once the session is gone (refresh refused): the app signs out. */
  readonly onSessionEnded?: () => void;
  /**
   * Exchanges a refresh token for a new pair; provided by the API layer. `refreshId` is this
   * exchange's own random id, the same on every retry of it (spec/openapi.yaml POST
   * /session/refresh: a retry after a lost answer is taken only with it).
   */
  readonly refresh?: (refreshToken: string, refreshId: string) => Promise<Tokens>;
}

export interface RequestOptions {
  readonly body?: unknown;
  /** A binary body, sent as application/octet-stream instead of JSON (PUT /provisioning/{address}). */
  readonly bytes?: Uint8Array;
  /** Send the bearer token (default true). */
  readonly auth?: boolean;
  readonly signal?: AbortSignal;
  readonly query?: Record<string, string | number | undefined>;
}

export class HttpClient {
  private tokens: Tokens | null = null;
  private refreshing: Promise<Tokens> | null = null;
  /**
   * The exchange of the refresh token held, and its id, until it gets a new pair: a retry after a
   * network error (the answer may have been lost after the relay rotated the token) sends the
   * same id, which the relay takes as this client retrying rather than a copy of the token.
   */
  private exchange: { readonly token: string; readonly id: string } | null = null;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: HttpOptions) {
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  setTokens(tokens: Tokens | null): void {
    this.tokens = tokens;
  }

  get accessToken(): string | null {
    return this.tokens?.accessToken ?? null;
  }

  get hasSession(): boolean {
    return this.tokens !== null;
  }

  url(path: string, query?: RequestOptions['query']): string {
    let url = `${this.options.baseUrl}${path}`;
    if (query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
      const qs = params.toString();
      if (qs) url += `?${qs}`;
    }
    return url;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const auth = options.auth ?? true;
    const response = await this.send(method, path, options, auth);
    if (response.status === 204) return undefined as T;
    try {
      return (await response.json()) as T;
    } catch {
      throw new ApiError(response.status, 'bad_response', 'response is not JSON');
    }
  }

  /** Sends with auth and one refresh-and-retry on 401; returns the OK response. */
  async send(method: string, path: string, options: RequestOptions, auth: boolean): Promise<Response> {
    let response = await this.once(method, path, options, auth);
    if (auth && response.status === 401 && this.tokens && this.options.refresh) {
      await response.body?.cancel();
      await this.refreshTokens();
      response = await this.once(method, path, options, auth);
    }
    if (!response.ok) throw await apiErrorFrom(response);
    return response;
  }

  private async once(
    method: string,
    path: string,
    options: RequestOptions,
    auth: boolean,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.bytes !== undefined) headers['content-type'] = 'application/octet-stream';
    if (auth) {
      if (!this.tokens) throw new ApiError(401, 'unauthorized', 'not signed in');
      headers.authorization = `Bearer ${this.tokens.accessToken}`;
    }
    const body =
      options.bytes !== undefined
        ? (options.bytes as Uint8Array<ArrayBuffer>)
        : options.body === undefined
          ? null
          : JSON.stringify(options.body);
    // The fetch's own signal: aborted by the caller's (for as long as a body may stream, so the
    // listener stays once the answer is in), or by the deadline until the answer begins. Not
    // AbortSignal.timeout: it cannot be called off once the answer is in, and would cut a body
    // still streaming.
    const abort = new AbortController();
    const cancel = () => abort.abort(options.signal?.reason);
    if (options.signal?.aborted) cancel();
    else options.signal?.addEventListener('abort', cancel, { once: true });
    const deadline = setTimeout(
      () => abort.abort(new ApiError(0, 'network', 'no answer in time')),
      answerDeadlineMs(body === null ? 0 : typeof body === 'string' ? body.length : body.byteLength),
    );
    try {
      return await this.fetchImpl(this.url(path, options.query), {
        method,
        headers,
        body,
        signal: abort.signal,
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch {
      options.signal?.removeEventListener('abort', cancel);
      // The cause is dropped on purpose: it could echo the request, and the token is in it.
      if (options.signal?.aborted) throw new ApiError(0, 'aborted', 'request cancelled');
      throw new ApiError(0, 'network', 'network error');
    } finally {
      clearTimeout(deadline);
    }
  }

  /** One refresh at a time; concurrent callers await the same rotation. */
  refreshTokens(): Promise<Tokens> {
    if (!this.refreshing) {
      const current = this.tokens;
      const refresh = this.options.refresh;
      if (!current || !refresh) return Promise.reject(new ApiError(401, 'unauthorized', 'not signed in'));
      if (this.exchange?.token !== current.refreshToken)
        this.exchange = {
          token: current.refreshToken,
          id: base64urlnopad.encode(crypto.getRandomValues(new Uint8Array(16))),
        };
      this.refreshing = refresh(current.refreshToken, this.exchange.id)
        .then((fresh) => {
          // Answered: the exchange is over, and the token it used is never sent again as a retry.
          this.exchange = null;
          this.tokens = fresh;
          this.options.onTokens?.(fresh);
          return fresh;
        })
        .catch((err: unknown) => {
          if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
            this.tokens = null;
            this.options.onSessionEnded?.();
          }
          throw err;
        })
        .finally(() => {
          this.refreshing = null;
        });
    }
    return this.refreshing;
  }
}
