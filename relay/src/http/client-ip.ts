// The client address a per-address limit is keyed on (registrations, login failures, requests
// in progress, WebSockets): what Express resolves as req.ip through the TRUST_PROXY list
// (src/app.ts 'trust proxy'; X-Forwarded-For believed only from those proxies), and only when
// it is an IP address — a trusted proxy passing on junk must not choose the key of a limit
// (README "Reliability"); the proxy's own address is used then.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Request } from 'express';
import proxyAddr from 'proxy-addr';

const orPeer = (ip: string | undefined, req: IncomingMessage) =>
  ip && isIP(ip) ? ip : (req.socket.remoteAddress ?? 'unknown');

/** The client address of a request that went through Express. */
export const clientIp = (req: Request): string => orPeer(req.ip, req);

/** The trust function Express compiles from TRUST_PROXY, for requests Express does not see. */
export const compileTrust = (trustProxy: readonly string[]) => proxyAddr.compile([...trustProxy]);

/** The client address of a request Express does not see (a WebSocket upgrade), by the same rule. */
export function upgradeClientIp(req: IncomingMessage, trust: ReturnType<typeof compileTrust>): string {
  let ip: string | undefined;
  try {
    ip = proxyAddr(req, trust);
  } catch {
    ip = undefined;
  }
  return orPeer(ip, req);
}
