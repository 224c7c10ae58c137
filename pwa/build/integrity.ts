// Build-time integrity for the served app (SECURITY.md "Checking the code your server sends"):
// - Subresource Integrity on every script, module preload and stylesheet index.html loads
//   (W3C Subresource Integrity §3.5), computed over the final bytes Vite writes;
// - the same for every chunk the page imports, at start or later (the app, the crypto layer, QR,
//   the emoji picker, Argon2id on the page's thread): index.html names each in a
//   <link rel="modulepreload"> with its integrity, and src/integrity/module-check.ts imports
//   nothing before such a link has loaded, so a page the service worker does not control runs
//   no changed chunk either;
// - a SHA-256 `integrity` on every precache entry, so the service worker only installs an
//   update whose files match the manifest it came with (workbox-precaching fetches each entry
//   with that integrity; src/sw.ts reports a mismatch to the user);
// - precache entries sorted by URL, so sw.js does not depend on the file system's listing order.
//
// vite-plugin-sri-gen was considered: it always adds an inline <script type="importmap">, which
// `script-src 'self'` forbids and WEBCAT's CSP rules do not allow a hash for.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import type { Plugin } from 'vite';
import type { ResolvedVitePWAOptions } from 'vite-plugin-pwa';
import type { ManifestTransform } from 'workbox-build';

function sri(algorithm: 'sha256' | 'sha384', bytes: string | Uint8Array): string {
  return `${algorithm}-${createHash(algorithm).update(bytes).digest('base64')}`;
}

// The tags Vite writes into index.html for the entry's script, its preloaded chunks and its CSS.
const LOADING_TAG = /<(script|link)\b[^>]*>/g;

function attribute(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
}

/** Adds integrity="sha384-…" to every script and stylesheet index.html loads; fails the build
 *  on a script or stylesheet that is not one of this build's files (nothing else may load). */
export function subresourceIntegrity(): Plugin {
  return {
    name: 'secure-drop:subresource-integrity',
    apply: 'build',
    enforce: 'post',
    generateBundle: {
      order: 'post',
      handler(_options, bundle) {
        absoluteImports(bundle);
        const bytesOf = (url: string): string | Uint8Array | undefined => {
          const item = bundle[url.replace(/^\//, '')];
          if (!item) return undefined;
          return item.type === 'chunk' ? item.code : item.source;
        };
        for (const item of Object.values(bundle)) {
          if (item.type !== 'asset' || !item.fileName.endsWith('.html')) continue;
          const html = String(item.source).replace(LOADING_TAG, (tag, name: string) => {
            const rel = attribute(tag, 'rel');
            const loads = name === 'script' || rel === 'stylesheet' || rel === 'modulepreload';
            if (!loads) return tag;
            const url = name === 'script' ? attribute(tag, 'src') : attribute(tag, 'href');
            if (url === undefined) throw new Error(`${item.fileName}: inline ${name} is not allowed`);
            const bytes = bytesOf(url);
            if (bytes === undefined) throw new Error(`${item.fileName}: ${url} is not a file of this build`);
            if (attribute(tag, 'integrity') !== undefined) return tag;
            return tag.replace(/\s*\/?>$/, (end) => ` integrity="${sri('sha384', bytes)}"${end}`);
          });
          // The app's page; another page of a build (the bench's seed page) only gets SRI.
          item.source =
            item.fileName === 'index.html'
              ? html.replace('</head>', () => `${moduleLinks(bundle, html, bytesOf)}</head>`)
              : html;
        }
      },
    },
  };
}

/**
 * Chunks import each other by absolute path ("/assets/x.js", not "./x.js"). A module's relative
 * imports resolve against the URL it was finally served from, after redirects, while the module
 * map keeps it under the URL asked for: a server answering a checked chunk with a redirect to
 * the same bytes elsewhere (/x/assets/…) would have its relative imports fetched from there,
 * unchecked. Absolute paths resolve the same wherever the importer came from, to the URLs
 * index.html names (the CSP keeps them on this origin). Done before any integrity is computed.
 */
function absoluteImports(bundle: Bundle): void {
  const chunks = Object.values(bundle).flatMap((item) => (item.type === 'chunk' ? [item] : []));
  for (const item of chunks) {
    const dir = posix.dirname(item.fileName);
    for (const target of new Set([...item.imports, ...item.dynamicImports])) {
      const relative = posix.relative(dir, target);
      const spelled = relative.startsWith('.') ? relative : `./${relative}`;
      for (const q of ['"', "'", '`'])
        item.code = item.code.split(`${q}${spelled}${q}`).join(`${q}/${target}${q}`);
    }
  }
  for (const item of chunks)
    for (const other of chunks)
      if (item.code.includes(`./${posix.basename(other.fileName)}`))
        fail(`${item.fileName} still names ${other.fileName} by a relative path`);
}

/** Fails the build, saying why on stderr as well: vite-plugin-pwa's closing step then fails on the
 *  missing files and its error is the one the build reports. */
function fail(why: string): never {
  console.error(`secure-drop:subresource-integrity: ${why}`);
  throw new Error(why);
}

type Bundle = Parameters<NonNullable<Extract<Plugin['generateBundle'], { handler: unknown }>['handler']>>[1];

/**
 * A modulepreload link with integrity for every chunk of the build that `html` does not load
 * already: at normal priority what the app starts with (the app's entry, src/main.tsx, marked
 * `data-app` for src/boot.ts to import, and its static imports), at low priority the rest, which
 * the first paint does not wait for (pwa/BENCHMARKS.md). src/integrity/module-check.ts imports
 * nothing before its link has loaded. Fails the build where that check could be bypassed: a
 * page's own script with static imports (they would run before the check), or a stylesheet
 * index.html does not name. Workers are built apart (assets, not chunks of this graph).
 */
function moduleLinks(
  bundle: Bundle,
  html: string,
  bytesOf: (url: string) => string | Uint8Array | undefined,
): string {
  const chunk = (fileName: string) => {
    const item = bundle[fileName];
    return item?.type === 'chunk' ? item : undefined;
  };
  const closure = (roots: string[], dynamic: boolean) => {
    const seen = new Set<string>();
    const walk = (fileName: string) => {
      const c = chunk(fileName);
      if (!c || seen.has(fileName)) return;
      seen.add(fileName);
      for (const next of dynamic ? [...c.imports, ...c.dynamicImports] : c.imports) walk(next);
    };
    for (const root of roots) walk(root);
    return seen;
  };
  const named = (fileName: string) => html.includes(`"/${fileName}"`);
  const entries = Object.values(bundle).flatMap((item) =>
    item.type === 'chunk' && item.isEntry ? [item] : [],
  );
  // The page's own script (src/boot.ts) and the app it imports (src/main.tsx, vite.config.ts);
  // other entries (the bench's seed page) are not the app's.
  const own = entries.filter((e) => named(e.fileName));
  for (const entry of own)
    if (entry.imports.length > 0)
      fail(
        `${entry.fileName} imports ${entry.imports.join(', ')} statically: the page's script must import nothing before its check`,
      );
  const apps = entries.filter((e) => e.facadeModuleId?.endsWith('/src/main.tsx')).map((e) => e.fileName);
  if (own.length !== 1 || apps.length !== 1)
    fail(`expected the page's script and the app's entry, found ${own.length} and ${apps.length}`);
  for (const item of Object.values(bundle))
    if (item.type === 'asset' && item.fileName.endsWith('.css') && !named(item.fileName))
      fail(`${item.fileName} is a stylesheet index.html does not name: it would load without integrity`);
  const startup = closure(apps, false);
  const all = closure([...own.map((e) => e.fileName), ...apps], true);
  return [...all]
    .sort((a, b) => Number(startup.has(b)) - Number(startup.has(a)) || (a < b ? -1 : a > b ? 1 : 0))
    .filter((fileName) => !named(fileName))
    .map((fileName) => {
      const bytes = bytesOf(`/${fileName}`) as string | Uint8Array;
      const mark = apps.includes(fileName)
        ? ' data-app'
        : startup.has(fileName)
          ? ''
          : ' fetchpriority="low"';
      return `  <link rel="modulepreload" crossorigin href="/${fileName}" integrity="${sri('sha384', bytes)}"${mark}>\n`;
    })
    .join('');
}

/** Workbox manifestTransform: SHA-256 integrity for every precache entry, entries sorted.
 *  `outDir()` is where Vite wrote the files (read once the bundle is on disk). */
export function precacheIntegrity(outDir: () => string): ManifestTransform {
  return (entries) => {
    const manifest = entries
      .map((entry) => ({ ...entry, integrity: sri('sha256', readFileSync(join(outDir(), entry.url))) }))
      .sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
    return { manifest, warnings: [] };
  };
}

/** vite-plugin-pwa's `integration.beforeBuildServiceWorker`: the entries the plugin adds itself
 *  (the web manifest, icons) are appended after manifestTransforms run, so they get their
 *  integrity here, once every file is on disk, in URL order. */
export function additionalEntriesIntegrity(options: ResolvedVitePWAOptions): void {
  const dir = options.injectManifest.globDirectory;
  if (!dir) throw new Error('injectManifest.globDirectory is not set');
  const entries = options.injectManifest.additionalManifestEntries ?? [];
  options.injectManifest.additionalManifestEntries = entries
    .map((entry) => {
      const url = typeof entry === 'string' ? entry : entry.url;
      const revision = typeof entry === 'string' ? null : entry.revision;
      return { url, revision, integrity: sri('sha256', readFileSync(join(dir, url))) };
    })
    .sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
}

/** Captures the resolved output directory for precacheIntegrity. */
export function outDirProbe(): { plugin: Plugin; outDir: () => string } {
  let dir = '';
  return {
    plugin: {
      name: 'secure-drop:out-dir',
      configResolved(config) {
        dir = resolve(config.root, config.build.outDir);
      },
    },
    outDir: () => {
      if (!dir) throw new Error('the output directory is not resolved yet');
      return dir;
    },
  };
}
