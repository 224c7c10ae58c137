// Serves the app for the e2e tests: the Vite dev server (modules importable one by one, for
// the photo pipeline in a real browser) or the production build through `vite preview`
// (service worker, precache, offline start). Both forward /api to the relay like the host.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, createServer, preview } from 'vite';
import { hostContentSecurityPolicy } from '../../verify/src/csp.mjs';

export const pwaDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Served {
  readonly url: string;
  close(): Promise<void>;
}

export async function startDevServer(relayPort?: number): Promise<Served> {
  if (relayPort) process.env.RELAY_PORT = String(relayPort);
  const server = await createServer({
    root: pwaDir,
    configFile: resolve(pwaDir, 'vite.config.ts'),
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false },
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite dev server has no URL');
  return { url: url.replace(/\/$/, ''), close: () => server.close() };
}

/** Where startPreview builds the app (tests may change files there to simulate a deploy). */
export const previewDir = resolve(pwaDir, 'node_modules/.e2e-dist');

/**
 * Where the preview forwards /api when the relay starts only after the preview (the relay must
 * know the page's origin, which exists once the preview has bound its port): set() points the
 * running proxy at the relay. It keeps the options object Vite's proxy reads on every request.
 */
export class LateRelayTarget {
  private options: { target?: unknown } | undefined;
  set(url: string): void {
    if (!this.options) throw new Error('the preview has not started its /api proxy');
    this.options.target = url;
  }
  proxy() {
    return {
      '/api': {
        target: 'http://127.0.0.1:9', // discard: nothing answers until set()
        ws: true,
        changeOrigin: false,
        rewrite: (path: string) => path.replace(/^\/api/, ''),
        configure: (_proxy: unknown, options: { target?: unknown }) => {
          this.options = options;
        },
      },
    };
  }
}

export async function startPreview(relayPort?: number, port = 0, late?: LateRelayTarget): Promise<Served> {
  if (relayPort) process.env.RELAY_PORT = String(relayPort);
  const outDir = previewDir;
  // Vitest sets NODE_ENV=test, which Vite keeps: React's development build and
  // import.meta.env.DEV (no service worker). Build exactly what ships.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      root: pwaDir,
      configFile: resolve(pwaDir, 'vite.config.ts'),
      mode: 'production',
      logLevel: 'error',
      build: { outDir, emptyOutDir: true },
    });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  // The production build runs under the exact CSP django-host sends (with Trusted Types), so
  // the e2e suite sees any violation a real deployment would.
  const csp = await hostContentSecurityPolicy();
  const server = await preview({
    root: pwaDir,
    configFile: resolve(pwaDir, 'vite.config.ts'),
    logLevel: 'error',
    build: { outDir },
    preview: {
      host: '127.0.0.1',
      port,
      strictPort: port !== 0,
      headers: { 'Content-Security-Policy': csp },
      ...(late ? { proxy: late.proxy() } : {}),
    },
  });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite preview has no URL');
  return {
    url: url.replace(/\/$/, ''),
    close: () =>
      new Promise<void>((done) => {
        server.httpServer.close(() => done());
      }),
  };
}
