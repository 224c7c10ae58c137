// Moves encrypted photo blobs to and from the relay with progress and cancel (issue #4 §5):
// upload with XMLHttpRequest (the one browser API that reports upload progress), download
// with fetch, counting bytes as the body streams. Only ciphertext passes through here.
import { ApiError, apiErrorFrom } from '../transport/errors.ts';
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

function xhrUpload(
  url: string,
  token: string,
  body: Uint8Array,
  options: TransferOptions,
): Promise<{ status: number; text: string; headers: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const onAbort = () => xhr.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => options.signal?.removeEventListener('abort', onAbort);
    xhr.open('POST', url);
    xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable && ev.total > 0) options.onProgress?.(ev.loaded / ev.total);
    };
    xhr.onload = () => {
      done();
      resolve({ status: xhr.status, text: xhr.responseText, headers: xhr.getAllResponseHeaders() });
    };
    xhr.onerror = () => {
      done();
      reject(new ApiError(0, 'network', 'upload failed'));
    };
    xhr.onabort = () => {
      done();
      reject(new ApiError(0, 'aborted', 'upload cancelled'));
    };
    if (options.signal?.aborted) {
      xhr.abort();
      return;
    }
    xhr.send(body as Uint8Array<ArrayBuffer>);
  });
}

function headersOf(raw: string): Headers {
  const h = new Headers();
  for (const line of raw.trim().split(/[\r\n]+/)) {
    const i = line.indexOf(':');
    if (i > 0) h.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return h;
}

/** POST /send_photo?to=… with the ciphertext; refreshes the access token once on 401. */
export async function uploadPhotoBlob(
  http: HttpClient,
  to: string,
  ciphertext: Uint8Array,
  options: TransferOptions = {},
): Promise<UploadResult> {
  const url = http.url('/send_photo', { to });
  for (let attempt = 0; ; attempt++) {
    const token = http.accessToken;
    if (!token) throw new ApiError(401, 'unauthorized', 'not signed in');
    const r = await xhrUpload(url, token, ciphertext, options);
    if (r.status === 401 && attempt === 0) {
      await http.refreshTokens();
      continue;
    }
    const response = new Response(r.text, { status: r.status, headers: headersOf(r.headers) });
    if (!response.ok) throw await apiErrorFrom(response);
    const body = (await response.json()) as { id?: unknown; size?: unknown };
    if (typeof body.id !== 'string') throw new ApiError(r.status, 'bad_response', 'no photo id');
    options.onProgress?.(1);
    return { id: body.id, size: typeof body.size === 'number' ? body.size : ciphertext.length };
  }
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
