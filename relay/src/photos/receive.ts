// Streams a request body to a file without holding it in memory (spec/openapi.yaml
// /send_photo): bytes go to disk as they arrive, with backpressure; the count is checked on every
// chunk so no more than `maxBytes` is ever written; a body that ends early (client aborted,
// connection cut, fewer bytes than Content-Length) is an error, and so is one that stalls for
// `idleMs` or is still incomplete after `totalMs`. On any error the file is closed and removed.
//
// The request may already be gone when this is called (the client hung up while the route was
// checking the token and the quota): its 'close' then fired before any listener existed here, so
// that state is checked first — waiting for an event that already happened left the partial
// file and its descriptor open for good.
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';

export class BodyTooLarge extends Error {
  override name = 'BodyTooLarge';
}
export class BodyTruncated extends Error {
  override name = 'BodyTruncated';
}
export class BodyTimeout extends Error {
  override name = 'BodyTimeout';
}

export interface ReceiveLimits {
  maxBytes: number;
  /** Longest pause between two chunks. */
  idleMs: number;
  /** Longest whole upload. */
  totalMs: number;
}

/** Writes the body of `req` to a new file at `path` (must not exist); resolves to its size. */
export async function receiveToFile(
  req: IncomingMessage,
  path: string,
  limits: ReceiveLimits,
): Promise<number> {
  if (req.destroyed || req.readableAborted) throw new BodyTruncated();
  const file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  let size = 0;
  let idle: NodeJS.Timeout | undefined;
  let total: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        clearTimeout(total);
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        req.off('close', onClose);
        if (err) {
          req.pause();
          reject(err);
        } else file.end(() => resolve());
      };
      const onData = (chunk: Buffer) => {
        idle?.refresh();
        size += chunk.length;
        if (size > limits.maxBytes) return done(new BodyTooLarge());
        if (!file.write(chunk)) {
          req.pause();
          file.once('drain', () => req.resume());
        }
      };
      const onEnd = () => done(req.complete ? undefined : new BodyTruncated());
      const onError = () => done(new BodyTruncated());
      const onClose = () => done(req.complete ? undefined : new BodyTruncated());
      idle = setTimeout(() => done(new BodyTimeout()), limits.idleMs);
      total = setTimeout(() => done(new BodyTimeout()), limits.totalMs);
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
      file.on('error', (err) => done(err));
    });
    return size;
  } catch (err) {
    file.destroy();
    if (!file.closed)
      await new Promise<void>((r) => {
        file.once('close', () => r()).once('error', () => r());
      });
    await unlink(path).catch(() => undefined);
    throw err;
  }
}
