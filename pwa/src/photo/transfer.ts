// Moves encrypted photo blobs to and from the relay with progress and cancel (spec/openapi.yaml tag "photos").
// Upload: resumable, with tus-js-client over the relay's tus endpoint (spec/openapi.yaml
// /uploads): a connection cut mid-upload continues from the bytes the relay already has (HEAD
// for the offset, PATCH the rest) instead of starting over. Download: fetch, counting bytes as
// the body streams. Only ciphertext passes through here, and nothing about an upload is stored:
// tus-js-client's URL storage (localStorage) would keep the recipient and the upload's time in
// clear, readable while the app is locked (SECURITY.md "What an app lock protects"), and the
// outbox seals a retried photo with fresh keys anyway, so a stored URL would never match it.
import { type DetailedError, Upload } from 'tus-js-client';
import { ApiError } from '../transport/errors.ts';
import type { HttpClient } from '../transport/http.ts';

export interface TransferOptions {
  /** Called with a fraction in [0, 1]. */
  readonly onProgress?: (fraction: number) => void;
  readonly signal?: AbortSignal;
}

export interface UploadResult {
  readonly id: string;
  readonly size: number;
}

/**
 * Bytes per PATCH: what a cut can cost at most, whatever the relay kept of the request, and a
 * bound on each request's time through proxies.
 */
export const UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Waits before each retry after a failure (network drop, relay restart): about four minutes in
 * all, then the upload fails and the outbox retries the message later (spec/protocol.md §7.6).
 */
export const UPLOAD_RETRY_DELAYS_MS = [
  0, 1000, 2000, 4000, 8000, 15_000, 30_000, 30_000, 30_000, 60_000, 60_000,
];

/** Statuses worth another try: none of them says the request itself is wrong. */
const RETRYABLE = new Set([0, 408, 409, 423, 429, 500, 502, 503, 504]);

function errorOf(err: Error | DetailedError): ApiError {
  const res = (err as DetailedError).originalResponse;
  if (!res) return new ApiError(0, 'network', 'upload failed');
  let body: { error?: unknown; message?: unknown } = {};
  try {
    body = JSON.parse(res.getBody() || '{}') as typeof body;
  } catch {
    // not JSON: keep the status only
  }
  return new ApiError(
    res.getStatus(),
    typeof body.error === 'string' ? body.error : 'upload_failed',
    typeof body.message === 'string' ? body.message : 'upload failed',
  );
}

/**
 * Uploads the ciphertext through POST/HEAD/PATCH /uploads (tus 1.0.0) for `to`; the photo id
 * is the upload's id. After a failed request it asks the relay for the offset and sends only
 * the rest; refreshes the access token once on 401; on cancel terminates the upload so it stops
 * counting against the sender's pending photos.
 */
export async function uploadPhotoBlob(
  http: HttpClient,
  to: string,
  ciphertext: Uint8Array | Blob,
  options: TransferOptions = {},
): Promise<UploadResult> {
  if (!http.accessToken) throw new ApiError(401, 'unauthorized', 'not signed in');
  const blob = ciphertext instanceof Blob ? ciphertext : new Blob([ciphertext as Uint8Array<ArrayBuffer>]);
  const endpoint = new URL(http.url('/uploads', { to }), globalThis.location?.href).toString();
  let refreshed = false;
  let refreshing: Promise<unknown> | null = null;

  return new Promise<UploadResult>((resolve, reject) => {
    let settled = false;
    const upload: Upload = new Upload(blob, {
      endpoint,
      chunkSize: UPLOAD_CHUNK_BYTES,
      retryDelays: UPLOAD_RETRY_DELAYS_MS,
      storeFingerprintForResuming: false,
      async onBeforeRequest(req) {
        await refreshing;
        req.setHeader('Authorization', `Bearer ${http.accessToken ?? ''}`);
      },
      onShouldRetry(err) {
        const status = err.originalResponse?.getStatus() ?? 0;
        if (status === 401 && !refreshed) {
          refreshed = true;
          refreshing = http.refreshTokens().catch(() => undefined);
          return true;
        }
        return RETRYABLE.has(status);
      },
      onProgress(sent, total) {
        if (total > 0) options.onProgress?.(sent / total);
      },
      onSuccess() {
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        const id = upload.url?.split('/').pop()?.split('?')[0];
        if (!id) {
          reject(new ApiError(0, 'bad_response', 'no photo id'));
          return;
        }
        options.onProgress?.(1);
        resolve({ id, size: blob.size });
      },
      onError(err) {
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        reject(errorOf(err));
      },
    });
    const onAbort = () => {
      if (settled) return;
      settled = true;
      // Terminate on the relay too: an abandoned upload would hold a pending-photo slot until it expires.
      void upload.abort(true).catch(() => undefined);
      reject(new ApiError(0, 'aborted', 'upload cancelled'));
    };
    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    upload.start();
  });
}

/** GET /get_photo/:id, reading at most `expectedBytes` (the length the message announced). */
export async function downloadPhotoBlob(
  http: HttpClient,
  id: string,
  expectedBytes: number,
  options: TransferOptions = {},
): Promise<Uint8Array> {
  const response = await http.send(
    'GET',
    `/get_photo/${encodeURIComponent(id)}`,
    options.signal ? { signal: options.signal } : {},
    true,
  );
  const reader = response.body?.getReader();
  if (!reader) throw new ApiError(response.status, 'bad_response', 'no body');
  const out = new Uint8Array(expectedBytes);
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (received + value.length > expectedBytes) {
      await reader.cancel();
      // Longer than announced: crypto-core's digest check would refuse it anyway.
      throw new ApiError(response.status, 'bad_response', 'photo larger than announced');
    }
    out.set(value, received);
    received += value.length;
    options.onProgress?.(received / expectedBytes);
  }
  return received === expectedBytes ? out : out.subarray(0, received);
}
