// Runs the app lock's Argon2id (RFC 9106, hash-wasm) off the page's thread where the browser
// allows (kdf-worker.ts), so the unlock screen keeps animating and answering while it works
// (pwa/BENCHMARKS.md measures both). Where there is no Worker (the unit tests' DOM, Node)
// the same function runs inline.
//
// Only on a page the service worker controls: a worker's script has no integrity attribute, and
// there it is the copy the service worker checked against its manifest when it installed
// (src/sw.ts). A page it does not control (a hard reload, a first visit, the dev server) would
// fetch the script from the network unchecked and hand it the passphrase, so it derives on its
// own thread instead, from the hash-wasm chunk index.html names with its integrity
// (build/integrity.ts; SECURITY.md "Checking the code your server sends").
//
// Trusted Types (django-host/host/headers.py): constructing a Worker is a TrustedScriptURL
// sink, so the worker's URL goes through the one policy for it, `secure-drop-kdf`, which
// accepts that URL and nothing else.

import { checkedImport } from '../integrity/checked-import.ts';
import type { KdfParams } from './kdf-params.ts';
import workerUrl from './kdf-worker.ts?worker&url';

export interface KdfRequest {
  readonly password: Uint8Array;
  readonly params: KdfParams;
}
export type KdfResponse = { readonly key: Uint8Array } | { readonly error: 'params' | 'failed' };

const KDF_POLICY = 'secure-drop-kdf';
let trustedUrl: unknown = null;

interface TrustedTypesGlobal {
  trustedTypes?: {
    createPolicy(
      name: string,
      rules: { createScriptURL(input: string): string },
    ): {
      createScriptURL(input: string): unknown;
    };
  };
}

function workerScriptUrl(): unknown {
  if (trustedUrl) return trustedUrl;
  const factory = (globalThis as TrustedTypesGlobal).trustedTypes;
  if (!factory) trustedUrl = workerUrl;
  else
    trustedUrl = factory
      .createPolicy(KDF_POLICY, {
        createScriptURL(input) {
          if (input !== workerUrl) throw new TypeError('only the key derivation worker may start');
          return input;
        },
      })
      .createScriptURL(workerUrl);
  return trustedUrl;
}

/** Argon2id on the calling thread: where there is no Worker, and the benchmark's baseline. */
export async function argon2idHere(password: Uint8Array, k: KdfParams): Promise<Uint8Array> {
  // The export picked inside the import: the bundler then keeps Argon2id alone, not all of hash-wasm.
  const argon2id = await checkedImport(() => import('hash-wasm').then((m) => m.argon2id));
  try {
    return await argon2id({
      password,
      salt: k.salt,
      iterations: k.t,
      parallelism: k.p,
      memorySize: k.m,
      hashLength: 32,
      outputType: 'binary',
    });
  } finally {
    password.fill(0);
  }
}

function inWorker(password: Uint8Array, k: KdfParams): Promise<Uint8Array> {
  const worker = new Worker(workerScriptUrl() as string, { type: 'module' });
  return new Promise<Uint8Array>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<KdfResponse>) => {
      worker.terminate();
      if ('key' in e.data && e.data.key instanceof Uint8Array && e.data.key.length === 32)
        resolve(e.data.key);
      else reject(new RangeError('key derivation failed'));
    };
    worker.onerror = () => {
      worker.terminate();
      reject(new Error('key derivation worker failed'));
    };
    // The passphrase bytes move to the worker (this copy is detached), which zeroes them.
    worker.postMessage({ password, params: k } satisfies KdfRequest, [password.buffer]);
  });
}

/** Argon2id(password, k) → 32 bytes. `password` is consumed: zeroed or moved to the worker. */
export function argon2idBytes(password: Uint8Array, k: KdfParams): Promise<Uint8Array> {
  return workerIsChecked() ? inWorker(password, k) : argon2idHere(password, k);
}

/** Whether a worker started now runs a script the service worker checked (see the top). */
function workerIsChecked(): boolean {
  return typeof Worker === 'function' && !!globalThis.navigator?.serviceWorker?.controller;
}
