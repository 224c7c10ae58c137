// The HTTP half of the transport: JSON requests to the relay behind the host's /api prefix,
// the access token held in memory only, and refresh-token rotation. A 401 on an
// authenticated call triggers ONE refresh (shared by concurrent callers) and one retry; a
// failed refresh ends the session (onSessionEnded), because the relay rotates refresh
// tokens and treats a reused one as theft (spec/openapi.yaml POST /refresh).
import { ApiError, apiErrorFrom } from './errors.ts';

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
  /** Exchanges a refresh token for a new pair; provided by the API layer. */
  readonly refresh?: (refreshToken: string) => Promise<Tokens>;
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
    try {
      return await this.fetchImpl(this.url(path, options.query), {
        method,
        headers,
        body:
          options.bytes !== undefined
            ? (options.bytes as Uint8Array<ArrayBuffer>)
            : options.body === undefined
              ? null
              : JSON.stringify(options.body),
        signal: options.signal ?? null,
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch {
      // The cause is dropped on purpose: it could echo the request, and the token is in it.
      if (options.signal?.aborted) throw new ApiError(0, 'aborted', 'request cancelled');
      throw new ApiError(0, 'network', 'network error');
    }
  }

  /** One refresh at a time; concurrent callers await the same rotation. */
  refreshTokens(): Promise<Tokens> {
    if (!this.refreshing) {
      const current = this.tokens;
      const refresh = this.options.refresh;
      if (!current || !refresh) return Promise.reject(new ApiError(401, 'unauthorized', 'not signed in'));
      this.refreshing = refresh(current.refreshToken)
        .then((fresh) => {
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
