// Builds the real app against a real test database and serves it on an ephemeral port.
// Every request made through `api` is checked against spec/openapi.yaml unless { spec: false }.
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import type { AppDeps } from '../../src/deps.js';
import { createRelayServer } from '../../src/http/node-server.js';
import { createLogger } from '../../src/logger.js';
import { PgNotifier } from '../../src/notify/pg-notifier.js';
import type { RouteModule } from '../../src/routes/index.js';
import { attachWebSocket } from '../../src/ws/hub.js';
import { TestClock } from './clock.js';
import { assertConformsToSpec } from './openapi.js';

/** Fixed per test run; two app instances built with the same secrets accept each other's tokens. */
export const TEST_SECRETS = {
  JWT_SECRET: randomBytes(32).toString('base64'),
  TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
};

// biome-ignore lint/suspicious/noExplicitAny: bodies are checked against the OpenAPI schema first; tests then read fields freely.
type JsonBody = any;

export interface ApiResponse<T = JsonBody> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  token?: string;
  headers?: Record<string, string>;
  /** Raw request body (sent as-is) instead of JSON. */
  raw?: string | Uint8Array;
  /** Skip the OpenAPI conformance check (only for routes that are deliberately undocumented). */
  spec?: false;
}

export interface Api {
  request(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<ApiResponse>;
  get(path: string, opts?: RequestOptions): Promise<ApiResponse>;
  post(path: string, body?: unknown, opts?: RequestOptions): Promise<ApiResponse>;
  delete(path: string, opts?: RequestOptions): Promise<ApiResponse>;
}

export interface TestApp {
  deps: AppDeps;
  clock: TestClock;
  baseUrl: string;
  server: Server;
  api: Api;
  /** Every log line the app wrote (JSON strings), for "no secret in logs" checks. */
  logs: string[];
  close(): Promise<void>;
}

export interface TestAppOptions {
  databaseUrl: string;
  clock?: TestClock;
  env?: Record<string, string>;
  /** Replace the route list (foundation tests mount probe routes). */
  routes?: RouteModule[];
  pool?: Pool;
}

export function makeApi(baseUrl: string): Api {
  const request = async (method: string, path: string, body?: unknown, opts: RequestOptions = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let payload: string | Uint8Array | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(baseUrl + path, { method, headers, body: payload });
    const text = await res.text();
    const contentType = res.headers.get('content-type');
    let parsed: unknown = text;
    if (contentType?.startsWith('application/json') && text) parsed = JSON.parse(text);
    if (opts.spec !== false) assertConformsToSpec(method, path, res.status, contentType, parsed);
    return { status: res.status, headers: res.headers, body: parsed as JsonBody, text };
  };
  return {
    request,
    get: (path, opts) => request('GET', path, undefined, opts),
    post: (path, body, opts) => request('POST', path, body, opts),
    delete: (path, opts) => request('DELETE', path, undefined, opts),
  };
}

export async function startTestApp(opts: TestAppOptions): Promise<TestApp> {
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: opts.databaseUrl,
    LOG_LEVEL: 'info',
    ...TEST_SECRETS,
    // Test files register many users from one address; the limit itself is tested with a low value.
    REGISTER_IP_PER_HOUR: '10000',
    ...opts.env,
  });
  const logs: string[] = [];
  const logger = createLogger(config.logLevel, { write: (line: string) => void logs.push(line) });
  const pool = opts.pool ?? createPool(opts.databaseUrl, logger, 5);
  const clock = opts.clock ?? new TestClock();
  // A real LISTEN/NOTIFY notifier per app instance: two instances on one database behave as two relay processes.
  const notifier = await PgNotifier.start({
    pool,
    listenConfig: { connectionString: opts.databaseUrl },
    logger,
  });
  const deps: AppDeps = { config, pool, logger, clock, notifier };
  const app = opts.routes ? buildApp(deps, opts.routes) : buildApp(deps);
  const server = createRelayServer(app, config.http, logger, {
    maxConnections: config.httpMaxConnections,
  });
  const hub = attachWebSocket(server, deps);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    deps,
    clock,
    baseUrl,
    server,
    api: makeApi(baseUrl),
    logs,
    close: async () => {
      await hub.close();
      await notifier.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      if (!opts.pool) await pool.end();
    },
  };
}
