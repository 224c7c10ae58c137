/// <reference lib="webworker" />
// The service worker, deliberately small: precache the app shell, drop old caches, serve
// index.html for navigations (never for /api), and activate a new version only when the page
// says so (the user accepted the update prompt). API data lives in IndexedDB, never here.
//
// Integrity (SECURITY.md "Checking the code your server sends"): every precache entry carries
// the SHA-256 of its file (pwa/build/integrity.ts), workbox fetches it with that integrity, so
// a worker whose files do not match the manifest it came with never finishes installing and so
// can never activate. When that happens the worker names the files that differ to the open
// pages, which tell the user.
import { cleanupOutdatedCaches, PrecacheController, PrecacheRoute } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';

declare const self: ServiceWorkerGlobalScope;

/** What vite-plugin-pwa injects at self.__WB_MANIFEST (pwa/build/integrity.ts adds integrity). */
interface Entry {
  readonly url: string;
  readonly revision: string | null;
  readonly integrity: string;
}

/** Message types shared with src/pwa/update.ts. */
const UPDATE_REFUSED = 'UPDATE_REFUSED';
const GET_BUILD = 'GET_BUILD';

const manifest = self.__WB_MANIFEST as Entry[];
const precache = new PrecacheController();
precache.addToCacheList(manifest);

async function sha256Integrity(bytes: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let binary = '';
  for (const byte of digest) binary += String.fromCharCode(byte);
  return `sha256-${btoa(binary)}`;
}

/** The files the server now sends that differ from this worker's manifest (network errors are
 *  not differences: an update that failed to download is simply retried later). */
async function differingFiles(): Promise<string[]> {
  const differing: string[] = [];
  for (const entry of manifest) {
    try {
      const response = await fetch(new URL(entry.url, self.location.href), { cache: 'no-store' });
      if (!response.ok) continue;
      if ((await sha256Integrity(await response.arrayBuffer())) !== entry.integrity)
        differing.push(entry.url);
    } catch {
      // Unreachable: not evidence of tampering.
    }
  }
  return differing;
}

/** The build hash Settings → About shows: SHA-256 over "<url> <integrity>\n" of every
 *  precached file, in URL order (verify/README.md "Build hash" computes the same). */
async function buildHash(): Promise<string> {
  const sorted = [...manifest].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
  const text = sorted.map((entry) => `/${entry.url} ${entry.integrity}\n`).join('');
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    precache.install(event).catch(async (error: unknown) => {
      const files = await differingFiles();
      if (files.length > 0) {
        const pages = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
        for (const page of pages) page.postMessage({ type: UPDATE_REFUSED, files });
      }
      throw error;
    }),
  );
});
self.addEventListener('activate', (event) => {
  event.waitUntil(precache.activate(event));
});
registerRoute(new PrecacheRoute(precache));
cleanupOutdatedCaches();
registerRoute(
  new NavigationRoute(precache.createHandlerBoundToURL('/index.html'), { denylist: [/^\/api(\/|$)/] }),
);

self.addEventListener('message', (event) => {
  const type = event.data && (event.data as { type?: unknown }).type;
  if (type === 'SKIP_WAITING') void self.skipWaiting();
  if (type === GET_BUILD && event.ports[0]) {
    const port = event.ports[0];
    void buildHash().then((hash) => port.postMessage({ buildHash: hash }));
  }
});
