// A total deadline for the arrival of a request's body (REQUEST_TIMEOUT_SECONDS, README
// "Configuration"): a client that announces a body and then stalls gets 408 request_timeout and
// its connection is closed, instead of holding a socket and a parser forever. Photo uploads
// take over with their own idle and total limits (cancelBodyDeadline, src/photos/receive.ts).
import type { NextFunction, Request, Response } from 'express';

const timers = new WeakMap<Request, NodeJS.Timeout>();

export const requestTimeoutBody = {
  error: 'request_timeout',
  message: 'the request took too long to arrive',
} as const;

/** Answers 408 (when nothing was sent yet) and closes the connection after it, in stages. */
export function timeOut(req: Request, res: Response): void {
  if (res.headersSent) {
    req.socket.destroy();
    return;
  }
  // Closed after the answer in stages (src/http/node-server.ts): a client still sending reads
  // the 408 instead of a reset, and the connection ends within LINGER_MS.
  res.set('Connection', 'close').status(408).json(requestTimeoutBody);
}

export function bodyDeadline(ms: number) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!req.complete) {
      const timer = setTimeout(() => {
        if (!req.complete) timeOut(req, res);
      }, ms);
      timer.unref();
      timers.set(req, timer);
      const clear = () => clearTimeout(timer);
      req.once('end', clear);
      res.once('close', clear);
    }
    next();
  };
}

/** For a route that bounds its body itself (photo uploads). */
export function cancelBodyDeadline(req: Request): void {
  clearTimeout(timers.get(req));
}
