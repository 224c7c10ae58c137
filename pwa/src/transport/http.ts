// The HTTP half of the transport: JSON requests to the relay behind the host's /api prefix,
// the access token held in memory only, and refresh-token rotation. A 401 on an
// authenticated call triggers ONE refresh (shared by concurrent callers) and one retry; a
// failed refresh ends the session (onSessionEnded), because the relay rotates refresh
// tokens and treats a reused one as theft (spec/openapi.yaml POST /session/refresh). Where the
// app keeps the tokens for its other tabs and its next page load, a refresh reads and writes
// them there, one tab at a time (TokenKeeper).
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

/**
 * The most a refresh may take, its answer's body included (the HTTP deadline ends once the
 * answer begins): it holds the lock every tab's refresh waits for (TokenKeeper). Past it, the
 * exchange counts as lost, to be retried with its id.
 */
const REFRESH_DEADLINE_MS = HTTP_ANSWER_TIMEOUT_MS + 5_000;
/** How many exchanged refresh tokens a page remembers as spent (one per refresh; a few suffice). */
const SPENT_KEPT = 8;

/** `promise`, or a network error once `ms` have passed. */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ApiError(0, 'network', 'no answer in time')), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

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

/** Spare life an access token must have to be used as is rather than refreshed, ms. */
const ACCESS_TOKEN_MARGIN_MS = 60_000;

/** Whether `tokens` carry an access token with ACCESS_TOKEN_MARGIN_MS of life left at `now`. */
export function accessUsable(tokens: Tokens, now: number = Date.now()): boolean {
  return tokens.accessToken !== '' && (tokens.accessExpiresAt ?? 0) - ACCESS_TOKEN_MARGIN_MS > now;
}

/**
 * The session's tokens as kept where every tab of this browser, and the next page load, find
 * them (the app's encrypted store). The relay rotates the refresh token at each refresh and takes
 * a rotated one presented again as theft, ending the session (spec/openapi.yaml POST
 * /session/refresh), so what is kept must always be the newest token: a refresh reads it, and
 * writes what it begins and what it gets, all inside `exclusive`, a lock the tabs share. A tab
 * (or a page reloaded) holding an older token in memory then takes the kept one instead of
 * presenting its own, and an exchange whose answer never arrived is retried with its own id by
 * whichever page presents the token next.
 */
export interface TokenKeeper {
  /**
   * Runs `task` as the only refresh of the session in this browser at the time, with the place
   * the tokens are kept in as it starts (null: none yet, the tokens in memory are used). What the
   * exchange keeps goes to that place, whatever this page opens meanwhile.
   */
  exclusive<T>(task: (place: TokenPlace | null) => Promise<T>): Promise<T>;
}

export interface TokenPlace {
  read(): Promise<KeptTokens | null>;
  write(kept: KeptTokens): Promise<void>;
}

export interface KeptTokens {
  readonly tokens: Tokens;
  /**
   * An exchange of `tokens.refreshToken` was begun with this id and its answer was not kept (it
   * was lost, or its page closed first): the token is presented again with this id only.
   */
  readonly exchangeId?: string;
}

export interface HttpOptions {
  /** Where the relay is mounted; '/api' behind the django host and the Vite dev proxy. */
  readonly baseUrl: string;
  readonly fetch?: typeof fetch;
  /**
   * Where the tokens are kept for the other tabs and the next page load; without it (tests of
   * the transport), or before it has a place (a login not finished yet), a refresh uses the
   * tokens in memory only.
   */
  readonly keeper?: TokenKeeper;
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

/** The 401 codes of a refused access token (spec/openapi.yaml components/responses/Unauthorized). */
const ACCESS_TOKEN_REFUSED: ReadonlySet<string> = new Set([
  'unauthorized',
  'invalid_token',
  'token_expired',
  'session_revoked',
]);

export class HttpClient {
  private tokens: Tokens | null = null;
  private refreshing: Promise<Tokens> | null = null;
  /**
   * The exchange of the refresh token held, and its id, until it gets a new pair: a retry after a
   * network error (the answer may have been lost after the relay rotated the token) sends the
   * same id, which the relay takes as this client retrying rather than a copy of the token.
   */
  private exchange: { readonly token: string; readonly id: string } | null = null;
  /** The last refresh tokens this page exchanged and got an answer for, newest first. */
  private spent: string[] = [];
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: HttpOptions) {
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  setTokens(tokens: Tokens | null): void {
    this.tokens = tokens;
    // A refresh of the tokens replaced is not this session's: callers from now on start their own.
    this.refreshing = null;
    // Signed out or locked: no refresh token stays in memory. An exchange with no answer is in the
    // store the page kept it in (TokenKeeper), for whoever opens that store next.
    if (tokens === null) {
      this.exchange = null;
      this.spent = [];
    }
  }

  /** The tokens this page holds, if any. */
  get current(): Tokens | null {
    return this.tokens;
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

  /** Sends with auth and one refresh-and-retry when the access token was refused; returns the OK response. */
  async send(method: string, path: string, options: RequestOptions, auth: boolean): Promise<Response> {
    let response = await this.once(method, path, options, auth);
    if (auth && response.status === 401 && this.tokens && this.options.refresh) {
      const refused = await apiErrorFrom(response);
      // Only a refused access token is refreshed and the request sent again. The step-up routes
      // also answer 401 for a wrong second factor (invalid_code, code_reused): sent again, the
      // same code would count as a second failure toward the lockout (spec/openapi.yaml POST
      // /session/reauth), and the refresh token would rotate for nothing.
      if (!ACCESS_TOKEN_REFUSED.has(refused.code)) throw refused;
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
      const start = this.tokens;
      const refresh = this.options.refresh;
      if (!start || !refresh) return Promise.reject(new ApiError(401, 'unauthorized', 'not signed in'));
      const keeper = this.options.keeper;
      const refreshing: Promise<Tokens> = (
        keeper
          ? keeper.exclusive((place) => this.rotate(start, refresh, place))
          : this.rotate(start, refresh, null)
      ).finally(() => {
        if (this.refreshing === refreshing) this.refreshing = null;
      });
      this.refreshing = refreshing;
    }
    return this.refreshing;
  }

  /**
   * One exchange of the newest refresh token for a new pair (TokenKeeper). `start` is what this
   * page held when it asked; whatever it holds once the exchange is over is replaced only if it
   * is still that (a page signed out meanwhile does not get tokens back).
   */
  private async rotate(
    start: Tokens,
    refresh: NonNullable<HttpOptions['refresh']>,
    place: TokenPlace | null,
  ): Promise<Tokens> {
    // Closed here while waiting (signed out, locked, or taken by another tab): the exchange was
    // not made, as if it never left: a network error, which leaves a message queued (the outbox)
    // and ends no session, where 'unauthorized' would end it and 'aborted' fail the message.
    const closed = () => new ApiError(0, 'network', 'session closed in this page');
    let current = start;
    let keptId: string | undefined;
    if (place) {
      const kept = await place.read().catch(() => null);
      if (this.tokens !== start) throw closed();
      // A kept token this page has exchanged itself is one its write did not replace (the store
      // refused it): this page's own is the newest.
      if (kept && !this.spent.includes(kept.tokens.refreshToken)) {
        if (kept.tokens.refreshToken !== start.refreshToken) {
          // Rotated since this page read it (by another tab, or by this tab before a reload).
          current = kept.tokens;
          if (kept.exchangeId === undefined && accessUsable(current)) {
            this.tokens = current;
            return current;
          }
        }
        keptId = kept.exchangeId;
      }
    }
    // The exchange of this token begun and not answered, as kept or as this page remembers it.
    const id =
      keptId ??
      (this.exchange?.token === current.refreshToken ? this.exchange.id : undefined) ??
      base64urlnopad.encode(crypto.getRandomValues(new Uint8Array(16)));
    this.exchange = { token: current.refreshToken, id };
    // Kept before it is sent: if the answer never arrives here, the next page to present this
    // token presents this id with it.
    if (place && keptId !== id) {
      await place.write({ tokens: current, exchangeId: id }).catch(() => undefined);
      if (this.tokens !== start) throw closed();
    }
    let fresh: Tokens;
    try {
      fresh = await withDeadline(refresh(current.refreshToken, id), REFRESH_DEADLINE_MS);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403) && this.tokens === start) {
        this.tokens = null;
        this.options.onSessionEnded?.();
      }
      throw err;
    }
    if (place) await place.write({ tokens: fresh }).catch(() => undefined);
    // Closed here meanwhile: this page does not take the new pair, so to it the answer is lost.
    // The place holds the pair if it took it, else the exchange and its id, which this page
    // (unlocked again) or the next retries.
    if (this.tokens !== start) throw closed();
    // Answered and held: the exchange is over, and the token it used is never sent again, as a
    // retry or as kept by the place (which may have refused the new pair).
    this.exchange = null;
    this.spent = [current.refreshToken, ...this.spent].slice(0, SPENT_KEPT);
    this.tokens = fresh;
    return fresh;
  }

  /** The id of an exchange of the refresh token held that has had no answer, if there is one. */
  get unansweredExchange(): string | undefined {
    return this.exchange && this.exchange.token === this.tokens?.refreshToken ? this.exchange.id : undefined;
  }
}
