import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import {
  additionalEntriesIntegrity,
  outDirProbe,
  precacheIntegrity,
  subresourceIntegrity,
} from './build/integrity.ts';

/** Rolldown's "plugins took N% of the build" notice ([PLUGIN_TIMINGS]): about this machine's
 * speed, nothing a person running `npm start` can act on. */
const quietTimings = { checks: { bundlerTimings: false } };

/**
 * For the service-worker build, which vite-plugin-pwa configures itself: it asks for
 * `output.inlineDynamicImports: true`, which Rolldown (Vite 8) reports as deprecated on every
 * build; `codeSplitting: false` is the same request in Rolldown's words. Also quiets the timings
 * notice there.
 */
export const swBuildOptions: Plugin = {
  name: 'secure-drop:sw-build-options',
  options(options) {
    return { ...options, checks: { ...options.checks, ...quietTimings.checks } };
  },
  outputOptions(options) {
    if (!('inlineDynamicImports' in options)) return null;
    const { inlineDynamicImports, ...rest } = options;
    return { ...rest, codeSplitting: !inlineDynamicImports };
  },
};

// The relay the dev server forwards /api to (the django host does the same in production:
// it strips the /api prefix and forwards /api/ws to the relay's WebSocket). The default is the
// relay's own default port (relay/src/config.ts PORT), which `npm start` also uses.
const relayPort = process.env.RELAY_PORT ?? '3000';
const relay = `http://127.0.0.1:${relayPort}`;

// The version shown in Settings → About and named in the release manifest (verify/README.md).
const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as {
  version: string;
};
const outDir = outDirProbe();

/**
 * Two entries: index.html, whose script (src/boot.ts) checks every chunk the app starts with
 * before it imports the app, and the app itself (src/main.tsx), which boot.ts imports by the URL
 * index.html names (build/integrity.ts). boot.ts cannot import the app by name: the bundler would
 * then give it a static import of its preload helper, a chunk loaded before any check.
 */
export const APP_INPUTS = {
  index: fileURLToPath(new URL('./index.html', import.meta.url)),
  app: fileURLToPath(new URL('./src/main.tsx', import.meta.url)),
};

export default defineConfig({
  resolve: {
    // Resolve @secure-drop/crypto-core to its TypeScript sources during dev and build.
    conditions: ['source', 'browser', 'module', 'import', 'default'],
  },
  define: { 'import.meta.env.VITE_APP_VERSION': JSON.stringify(version) },
  plugins: [
    outDir.plugin,
    react(),
    subresourceIntegrity(),
    VitePWA({
      strategies: 'injectManifest',
      srcDir: 'src',
      filename: 'sw.ts',
      // Registration is ours (src/pwa/): an update waits for the user's word, never auto-swaps.
      registerType: 'prompt',
      injectRegister: false,
      // json: the emoji picker's data (EmojiPicker.tsx imports it with ?url, both languages,
      // ~0.45 MB each), so the picker works offline from its very first use.
      injectManifest: {
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest,woff2,json}'],
        // A deployment's signed release manifest (verify/README.md "Deploying a release") describes
        // the app; it is not part of it, so adding it must change no byte of sw.js.
        globIgnores: ['release.json'],
        buildPlugins: { vite: [swBuildOptions] },
        // Each entry carries its SHA-256: an update whose files differ never installs (src/sw.ts).
        manifestTransforms: [precacheIntegrity(outDir.outDir)],
      },
      includeAssets: ['icons/icon.svg'],
      manifest: {
        name: 'Secure Drop',
        short_name: 'Secure Drop',
        description: 'End-to-end encrypted messenger',
        lang: 'en',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        theme_color: '#1f3a5f',
        background_color: '#f4f6f9',
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
          { src: '/icons/icon.svg', sizes: 'any', type: 'image/svg+xml' },
        ],
      },
      devOptions: { enabled: false },
      integration: { beforeBuildServiceWorker: additionalEntriesIntegrity },
    }),
  ],
  server: {
    proxy: {
      // Same shape as the django host: /api/x → relay /x, /api/ws → relay /ws (WebSocket).
      '/api': { target: relay, ws: true, changeOrigin: false, rewrite: (path) => path.replace(/^\/api/, '') },
    },
  },
  build: {
    target: 'es2022',
    sourcemap: false,
    // No polyfill: in a build of two pages (the bench's) it becomes a chunk the page's script
    // imports before any check (build/integrity.ts); every browser the app supports has
    // modulepreload, and src/integrity/module-check.ts checks nothing where one does not.
    modulePreload: { polyfill: false },
    rolldownOptions: { ...quietTimings, input: APP_INPUTS },
  },
});
