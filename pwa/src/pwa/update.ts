// Service-worker registration and the update prompt (SECURITY.md: new code never swaps in
// mid-session without the user's word). A new worker that finishes installing WAITS; the
// app's `update` signal tells the UI, and only apply() (the user's click) tells it to take
// over (SKIP_WAITING, see src/sw.ts), after which the page reloads once onto the new code.
// createApp (src/state/app.ts) makes one UpdatePrompt; its signal is part of the app state.
import { type ReadonlySignal, signal } from '@preact/signals-react';
import { Workbox } from 'workbox-window';
import type { UpdateState } from '../state/types.ts';

/** The one Trusted Types policy the app creates (the CSP's `trusted-types secure-drop-sw`,
 *  django-host/host/headers.py): registering a service worker is a TrustedScriptURL sink, and
 *  this policy turns exactly the app's own worker URL into one — nothing else. */
const SW_POLICY = 'secure-drop-sw';
interface TrustedTypesWindow {
  trustedTypes?: {
    createPolicy(
      name: string,
      rules: { createScriptURL(input: string): string },
    ): {
      createScriptURL(input: string): unknown;
    };
  };
}

function trustedWorkerURL(url: string): string {
  const factory = (window as TrustedTypesWindow).trustedTypes;
  if (!factory) return url; // a browser without Trusted Types enforces none
  // The CSP allows the policy name once per page.
  const policy = factory.createPolicy(SW_POLICY, {
    createScriptURL(input) {
      if (input !== url) throw new TypeError('only the app service worker may be registered');
      return input;
    },
  });
  // workbox-window accepts a TrustedScriptURL where it takes the URL.
  return policy.createScriptURL(url) as string;
}

export interface UpdatePrompt {
  readonly update: ReadonlySignal<UpdateState>;
  /** Registers the app's service worker (once; not in development). */
  register(url?: string): void;
  /** The user's click: the waiting worker takes over and the page reloads. */
  apply(): void;
  dismiss(): void;
}

export function createUpdatePrompt(): UpdatePrompt {
  const update = signal<UpdateState>({ available: false, offlineReady: false });
  let workbox: Workbox | null = null;

  /** Asks the active worker for the hash of the build it serves (src/sw.ts GET_BUILD). */
  function askBuildHash(worker: ServiceWorker | null | undefined): void {
    if (!worker) return;
    const channel = new MessageChannel();
    channel.port1.onmessage = (event: MessageEvent<{ buildHash?: unknown }>) => {
      const hash = event.data?.buildHash;
      if (typeof hash === 'string' && /^[0-9a-f]{64}$/.test(hash))
        update.value = { ...update.value, buildHash: hash };
      channel.port1.close();
    };
    worker.postMessage({ type: 'GET_BUILD' }, [channel.port2]);
  }

  function register(url = '/sw.js'): void {
    if (typeof navigator === 'undefined' || !('serviceWorker' in navigator) || workbox) return;
    // Development serves no service worker (vite-plugin-pwa devOptions.enabled is false).
    if (import.meta.env.DEV) return;
    const wb = new Workbox(trustedWorkerURL(url), { scope: '/' });
    workbox = wb;
    // A new worker whose files differ from its manifest never installs (src/sw.ts); it names
    // the files, and the user is told instead of being offered the update.
    navigator.serviceWorker.addEventListener(
      'message',
      (event: MessageEvent<{ type?: unknown; files?: unknown }>) => {
        const { type, files } = event.data ?? {};
        if (type !== 'UPDATE_REFUSED' || !Array.isArray(files)) return;
        const names = files.filter((f): f is string => typeof f === 'string').slice(0, 20);
        update.value = { ...update.value, available: false, refused: names };
      },
    );
    void navigator.serviceWorker.ready.then((registration) => askBuildHash(registration.active));
    wb.addEventListener('waiting', () => {
      update.value = { ...update.value, available: true };
    });
    wb.addEventListener('installed', (event) => {
      if (!event.isUpdate) update.value = { ...update.value, offlineReady: true };
    });
    wb.addEventListener('controlling', (event) => {
      // Only after the user asked for it (apply); a first install never reloads.
      if (event.isUpdate) window.location.reload();
    });
    void wb.register().then((registration) => {
      if (registration?.active && navigator.serviceWorker.controller)
        update.value = { ...update.value, offlineReady: true };
    });
  }

  return {
    update,
    register,
    apply() {
      if (!workbox || !update.value.available) return;
      workbox.messageSkipWaiting();
    },
    dismiss() {
      update.value = { ...update.value, available: false, refused: [] };
    },
  };
}
