// Streams a request body to a file without holding it in memory (issue 3 "send_photo"): bytes
// go to disk as they arrive, with backpressure; the count is checked on every chunk so no more
// than `maxBytes` is ever written; a body that ends early (client aborted, connection cut, fewer
// bytes than Content-Length) is an error. On any error the partial file is removed.
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';

export class BodyTooLarge extends Error {
  override name = 'BodyTooLarge';
}
export class BodyTruncated extends Error {
  override name = 'BodyTruncated';
}

/** Writes the body of `req` to a new file at `path` (must not exist); resolves to its size. */
export async function receiveToFile(req: IncomingMessage, path: string, maxBytes: number): Promise<number> {
  const file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  let size = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
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
        size += chunk.length;
        if (size > maxBytes) return done(new BodyTooLarge());
        if (!file.write(chunk)) {
          req.pause();
          file.once('drain', () => req.resume());
        }
      };
      const onEnd = () => done(req.complete ? undefined : new BodyTruncated());
      const onError = () => done(new BodyTruncated());
      const onClose = () => done(req.complete ? undefined : new BodyTruncated());
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
