// The app lock's Argon2id (passphrase.ts) in a module Web Worker: 64 MiB and two passes take
// 0.3–1.3 s, which on the page's thread would freeze the unlock screen (no spinner, no input).
// One worker per derivation, ended after it, so its 64 MiB are released at once. It answers
// one message with the 32 derived bytes (transferred, not copied) or an error name — never
// the passphrase or anything derived from it in a message that could be logged.
import { argon2id } from 'hash-wasm';
import type { KdfRequest, KdfResponse } from './kdf.ts';
import { validateKdfParams } from './kdf-params.ts';

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<KdfRequest>) => void) | null;
  postMessage(message: KdfResponse, transfer: Transferable[]): void;
};

scope.onmessage = async (e: MessageEvent<KdfRequest>) => {
  const { password, params } = e.data;
  try {
    validateKdfParams(params);
    if (!(password instanceof Uint8Array)) throw new TypeError('password');
    const key = await argon2id({
      password,
      salt: params.salt,
      iterations: params.t,
      parallelism: params.p,
      memorySize: params.m,
      hashLength: 32,
      outputType: 'binary',
    });
    password.fill(0);
    scope.postMessage({ key }, [key.buffer]);
  } catch (err) {
    password?.fill?.(0);
    scope.postMessage({ error: err instanceof RangeError ? 'params' : 'failed' }, []);
  }
};
