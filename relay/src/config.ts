// Typed, fail-fast configuration from the environment. Every variable is documented with its
// default in relay/.env.example; keep the two in step. Secrets are resolved separately
// (src/secrets.ts) because in development they are generated into DATA_DIR on first run.
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error.js';
import { DEFAULT_DEVICE_LIMIT } from './devices/limits.js';
import { processMaxConnections } from './http/max-connections.js';
import type { BucketSpec } from './limits/token-bucket.js';
import { resolveSecrets, type Secrets } from './secrets.js';

/** The repository root (relay/src or relay/dist → two levels up), so `npm start` and the relay share .data/. */
const repoRoot = resolve(import.meta.dirname, '..', '..');

const int = (min: number, max: number, def: number) => z.coerce.number().int().min(min).max(max).default(def);
const list = (def: string) =>
  z
    .string()
    .default(def)
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    );

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535, 3000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  DATA_DIR: z.string().min(1).default(resolve(repoRoot, '.data')),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // `npm start`'s per-run id (scripts/start.mjs): GET /health names it, so the run can tell its
  // own relay from another program that took the port after it was found free.
  SECURE_DROP_RUN_ID: z
    .string()
    .regex(/^[0-9a-f]{32}$/, 'must be 32 lower-case hex digits (npm start sets it)')
    .optional(),
  JWT_SECRET: z.string().optional(),
  JWT_SECRET_FILE: z.string().min(1).optional(),
  TOTP_ENCRYPTION_KEY: z.string().optional(),
  TOTP_ENCRYPTION_KEY_FILE: z.string().min(1).optional(),
  JWT_ISSUER: z.string().min(1).default('secure-drop-relay'),
  JWT_AUDIENCE: z.string().min(1).default('secure-drop'),
  // Never `true`: a list, so X-Forwarded-For is believed only from our own proxies (the IP rate limit).
  TRUST_PROXY: list('loopback'),
  WS_ALLOWED_ORIGINS: list('http://localhost:8000,http://127.0.0.1:8000'),
  // As low as 5 s for tests that watch a token expire under an open WebSocket (the PWA's own
  // relay in pwa/test-node/messenger-token-expiry.test.ts); production keeps minutes.
  ACCESS_TOKEN_TTL_SECONDS: int(5, 3600, 900),
  REFRESH_TOKEN_TTL_DAYS: int(1, 365, 30),
  PENDING_REGISTRATION_TTL_SECONDS: int(60, 86_400, 600),
  LOGIN_USER_MAX_FAILURES: int(3, 50, 10),
  LOGIN_IP_MAX_FAILURES: int(3, 500, 30),
  LOGIN_LOCK_SECONDS: int(10, 86_400, 900),
  RETENTION_DAYS: int(1, 365, 30),
  MAX_MESSAGE_BYTES: int(1024, 1_048_576, 65_536),
  MAX_PHOTO_BYTES: int(1024, 104_857_600, 26_214_400),
  MAX_SESSIONS_PER_USER: int(1, 1000, 20),
  REGISTER_IP_PER_HOUR: int(1, 10_000, 20),
  // Messaging: rates, quotas, WebSocket and retention sweep (documented in relay/.env.example).
  SEND_RATE_BURST: int(1, 10_000, 60),
  SEND_RATE_PER_SECOND: int(1, 1000, 1),
  PREKEY_FETCH_BURST: int(1, 1000, 20),
  PREKEY_FETCH_PER_MINUTE: int(1, 6000, 10),
  PREKEY_LOW_THRESHOLD: int(0, 500, 20),
  // Identity-key replacements (reinstalls) per account: each one warns every contact (key_change).
  IDENTITY_CHANGE_BURST: int(1, 100, 3),
  IDENTITY_CHANGE_PER_DAY: int(1, 1000, 3),
  // GET /identity/{username}: spends nothing, so more generous than bundle fetches.
  IDENTITY_LOOKUP_BURST: int(1, 10_000, 60),
  IDENTITY_LOOKUP_PER_MINUTE: int(1, 60_000, 60),
  // Changes of the contact and block lists (src/contacts/change-lists.ts): a person adds, removes
  // and blocks by hand, so a burst for a first address book, then a few a minute.
  LIST_CHANGE_BURST: int(1, 10_000, 60),
  LIST_CHANGE_PER_MINUTE: int(1, 6000, 12),
  // Active linked devices per account (spec/protocol.md §16): 409 device_limit beyond.
  DEVICE_LIMIT: int(1, 16, DEFAULT_DEVICE_LIMIT),
  MAX_PENDING_PHOTOS: int(1, 10_000, 100),
  // An unfinished resumable photo upload (spec/openapi.yaml POST /uploads) is deleted this long after its creation.
  PHOTO_UPLOAD_EXPIRY_SECONDS: int(60, 604_800, 86_400),
  MAX_PENDING_MESSAGES: int(10, 1_000_000, 10_000),
  WS_MAX_CONNECTIONS_PER_USER: int(1, 1000, 5),
  WS_MAX_CONNECTIONS: int(1, 1_000_000, 50_000),
  // Per client address (TRUST_PROXY decides what the address is): sockets open, and HTTP
  // requests in progress. Far above one person's tabs and devices, or a household's or an
  // office's behind one NAT; low enough that one address cannot hold a process's sockets.
  WS_MAX_CONNECTIONS_PER_IP: int(1, 1_000_000, 256),
  HTTP_MAX_REQUESTS_PER_IP: int(1, 1_000_000, 256),
  // TCP connections the HTTP server holds at once, WebSockets included (src/http/node-server.ts);
  // unset: derived from the open-file limit (src/http/max-connections.ts).
  HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).optional(),
  WS_AUTH_TIMEOUT_MS: int(100, 60_000, 5000),
  WS_HEARTBEAT_SECONDS: int(1, 600, 30),
  WS_SESSION_CHECK_SECONDS: int(1, 3600, 30),
  SWEEP_INTERVAL_SECONDS: int(1, 86_400, 300),
  // HTTP time limits (src/http/node-server.ts): headers, whole non-upload requests, photo uploads.
  HEADERS_TIMEOUT_SECONDS: int(1, 600, 30),
  REQUEST_TIMEOUT_SECONDS: int(1, 3600, 60),
  UPLOAD_IDLE_TIMEOUT_SECONDS: int(1, 3600, 30),
  UPLOAD_MAX_SECONDS: int(10, 86_400, 3600),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  nodeEnv: Env['NODE_ENV'];
  host: string;
  port: number;
  /** Unset: an embedded PostgreSQL under DATA_DIR/postgres is started (src/db/embedded.ts). */
  databaseUrl: string | undefined;
  dataDir: string;
  logLevel: Env['LOG_LEVEL'];
  /** `npm start`'s run id, sent back by GET /health (Secure-Drop-Run); none otherwise. */
  runId: string | undefined;
  trustProxy: string[];
  wsAllowedOrigins: string[];
  secrets: Secrets;
  jwt: { issuer: string; audience: string; accessTtlSeconds: number };
  refreshTtlSeconds: number;
  pendingRegistrationTtlSeconds: number;
  login: { userMaxFailures: number; ipMaxFailures: number; lockSeconds: number };
  /** Registrations one client IP may start per hour. */
  registerIpPerHour: number;
  retentionDays: number;
  limits: { messageBytes: number; photoBytes: number; sessionsPerUser: number };
  /** The limits of the messaging half — keys, messages, photos, WebSocket — and the sweep interval. */
  messaging: MessagingConfig;
  /** HTTP time limits, milliseconds (src/http/node-server.ts, src/http/deadline.ts). */
  http: HttpTimeouts;
  /** HTTP requests one client address may have in progress (src/http/per-ip.ts). */
  httpMaxRequestsPerIp: number;
  /** TCP connections the HTTP server holds at once, WebSockets included (Node's server.maxConnections). */
  httpMaxConnections: number;
}

export interface HttpTimeouts {
  /** Until a request's headers are complete (Node's headersTimeout). */
  headersMs: number;
  /** Until the body of a request other than a photo upload has arrived. */
  requestMs: number;
  /** A photo upload may go this long without a byte… */
  uploadIdleMs: number;
  /** …and take this long in all. */
  uploadMaxMs: number;
}

export interface MessagingConfig {
  /** Per-user token buckets (src/limits/token-bucket.ts): sends (messages and photos), bundle fetches. */
  send: BucketSpec;
  prekeyFetch: BucketSpec;
  /** Identity-key replacements per account (spec/openapi.yaml POST /keys). */
  identityChange: BucketSpec;
  /** GET /identity/{username} per caller. */
  identityLookup: BucketSpec;
  /** POST and DELETE /contacts and /blocks per account. */
  listChange: BucketSpec;
  /** Active devices an account may have (POST /keys links a new one only below it). */
  deviceLimit: number;
  /** Below this many one-time prekeys the owner is told to upload more. */
  prekeyLowThreshold: number;
  /** Photos a sender may have waiting for acknowledgement (unfinished uploads count too). */
  maxPendingPhotos: number;
  /** An unfinished resumable upload expires (Upload-Expires) this long after its creation. */
  photoUploadExpiryMs: number;
  /** Unacknowledged messages a receiver may hold; sends beyond it are refused (409 mailbox_full). */
  maxPendingMessages: number;
  ws: {
    maxPerUser: number;
    maxConnections: number;
    /** Sockets one client address may hold open (authenticated or not). */
    maxPerIp: number;
    authTimeoutMs: number;
    heartbeatMs: number;
    sessionCheckMs: number;
  };
  sweepIntervalMs: number;
}

export { ConfigError };

/** Parses `env`; throws ConfigError naming every bad variable (never echoing a secret's value). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const dataDir = isAbsolute(e.DATA_DIR) ? e.DATA_DIR : resolve(process.cwd(), e.DATA_DIR);
  const secrets = resolveSecrets({
    development: e.NODE_ENV === 'development',
    dataDir,
    jwtSecret: e.JWT_SECRET,
    totpKey: e.TOTP_ENCRYPTION_KEY,
    jwtSecretFile: e.JWT_SECRET_FILE,
    totpKeyFile: e.TOTP_ENCRYPTION_KEY_FILE,
  });
  return {
    nodeEnv: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dataDir,
    logLevel: e.LOG_LEVEL,
    runId: e.SECURE_DROP_RUN_ID,
    trustProxy: e.TRUST_PROXY,
    wsAllowedOrigins: e.WS_ALLOWED_ORIGINS,
    secrets,
    jwt: { issuer: e.JWT_ISSUER, audience: e.JWT_AUDIENCE, accessTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS },
    refreshTtlSeconds: e.REFRESH_TOKEN_TTL_DAYS * 86_400,
    pendingRegistrationTtlSeconds: e.PENDING_REGISTRATION_TTL_SECONDS,
    registerIpPerHour: e.REGISTER_IP_PER_HOUR,
    login: {
      userMaxFailures: e.LOGIN_USER_MAX_FAILURES,
      ipMaxFailures: e.LOGIN_IP_MAX_FAILURES,
      lockSeconds: e.LOGIN_LOCK_SECONDS,
    },
    retentionDays: e.RETENTION_DAYS,
    limits: {
      messageBytes: e.MAX_MESSAGE_BYTES,
      photoBytes: e.MAX_PHOTO_BYTES,
      sessionsPerUser: e.MAX_SESSIONS_PER_USER,
    },
    messaging: {
      send: { name: 'send', burst: e.SEND_RATE_BURST, perSecond: e.SEND_RATE_PER_SECOND },
      prekeyFetch: {
        name: 'prekey_fetch',
        burst: e.PREKEY_FETCH_BURST,
        perSecond: e.PREKEY_FETCH_PER_MINUTE / 60,
      },
      identityChange: {
        name: 'identity_change',
        burst: e.IDENTITY_CHANGE_BURST,
        perSecond: e.IDENTITY_CHANGE_PER_DAY / 86_400,
      },
      identityLookup: {
        name: 'identity_lookup',
        burst: e.IDENTITY_LOOKUP_BURST,
        perSecond: e.IDENTITY_LOOKUP_PER_MINUTE / 60,
      },
      listChange: {
        name: 'list_change',
        burst: e.LIST_CHANGE_BURST,
        perSecond: e.LIST_CHANGE_PER_MINUTE / 60,
      },
      deviceLimit: e.DEVICE_LIMIT,
      prekeyLowThreshold: e.PREKEY_LOW_THRESHOLD,
      maxPendingPhotos: e.MAX_PENDING_PHOTOS,
      photoUploadExpiryMs: e.PHOTO_UPLOAD_EXPIRY_SECONDS * 1000,
      maxPendingMessages: e.MAX_PENDING_MESSAGES,
      ws: {
        maxPerUser: e.WS_MAX_CONNECTIONS_PER_USER,
        maxConnections: e.WS_MAX_CONNECTIONS,
        maxPerIp: e.WS_MAX_CONNECTIONS_PER_IP,
        authTimeoutMs: e.WS_AUTH_TIMEOUT_MS,
        heartbeatMs: e.WS_HEARTBEAT_SECONDS * 1000,
        sessionCheckMs: e.WS_SESSION_CHECK_SECONDS * 1000,
      },
      sweepIntervalMs: e.SWEEP_INTERVAL_SECONDS * 1000,
    },
    http: {
      headersMs: e.HEADERS_TIMEOUT_SECONDS * 1000,
      requestMs: e.REQUEST_TIMEOUT_SECONDS * 1000,
      uploadIdleMs: e.UPLOAD_IDLE_TIMEOUT_SECONDS * 1000,
      uploadMaxMs: e.UPLOAD_MAX_SECONDS * 1000,
    },
    httpMaxRequestsPerIp: e.HTTP_MAX_REQUESTS_PER_IP,
    httpMaxConnections: e.HTTP_MAX_CONNECTIONS ?? processMaxConnections(),
  };
}
