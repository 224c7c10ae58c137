// A cap on the HTTP requests one client address may have in progress at once
// (HTTP_MAX_REQUESTS_PER_IP, spec/openapi.yaml info: 429 too_many_requests). Rate limits bound
// how often an address may act; this bounds how much it may hold at one time — stalled bodies,
// slow downloads — which the standard Caddy image in front cannot (RELIABILITY.md "Real TLS
// front"). Counted per process; a request leaves the count when its response closes (sent, or
// the connection gone).
import type { NextFunction, Request, Response } from 'express';
import { clientIp } from './client-ip.js';
import { HttpError } from './http-error.js';

export function requestsPerIp(max: number) {
  const inProgress = new Map<string, number>();
  return (req: Request, res: Response, next: NextFunction) => {
    const ip = clientIp(req);
    const held = inProgress.get(ip) ?? 0;
    if (held >= max) {
      next(new HttpError(429, 'too_many_requests', 'too many requests in progress from this address'));
      return;
    }
    inProgress.set(ip, held + 1);
    res.once('close', () => {
      const n = (inProgress.get(ip) ?? 1) - 1;
      if (n > 0) inProgress.set(ip, n);
      else inProgress.delete(ip);
    });
    next();
  };
}
