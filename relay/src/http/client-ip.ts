// The client address a per-address limit is keyed on (registrations, login failures, requests
// in progress, WebSockets): what Express resolves as req.ip through the TRUST_PROXY list
// (src/app.ts 'trust proxy'; X-Forwarded-For believed only from those proxies), and only when
// it is an IP address — a trusted proxy passing on junk must not choose the key of a limit
// (README "Reliability"); the proxy's own address is used then.
// An IPv6 client is keyed by its /64: one subscriber is handed at least a /64 (RFC 6177, RIPE-690)
// and picks any of its 2^64 addresses at will, so a per-address limit keyed on the full address
// would limit nothing. An IPv4 address written as IPv4-mapped IPv6 is that IPv4 address.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Request } from 'express';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';

/**
 * `ip` in a spelling ipaddr.js parses: it takes an IPv6 address with a dotted IPv4 tail only
 * when IPv4-mapped, so any other ("64:ff9b::1.2.3.4") is first written in hex, as the WHATWG URL
 * parser writes IPv6 hosts.
 */
function parseable(ip: string): string {
  if (ipaddr.isValid(ip) || isIP(ip) !== 6) return ip;
  try {
    return new URL(`http://[${ip.split('%')[0]}]`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

/** The key a per-address limit counts `ip` under. */
export function addressKey(address: string): string {
  const ip = parseable(address);
  if (!ipaddr.isValid(ip)) return ip;
  const addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv4') return addr.toString();
  const v6 = addr as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  return `${v6.parts
    .slice(0, 4)
    .map((p) => p.toString(16))
    .join(':')}::/64`;
}

const orPeer = (ip: string | undefined, req: IncomingMessage) =>
  addressKey(ip && isIP(ip) ? ip : (req.socket.remoteAddress ?? 'unknown'));

/** The client's key (addressKey) for a request that went through Express. */
export const clientIp = (req: Request): string => orPeer(req.ip, req);

/** The trust function Express compiles from TRUST_PROXY, for requests Express does not see. */
export const compileTrust = (trustProxy: readonly string[]) => proxyAddr.compile([...trustProxy]);

/** The client's key for a request Express does not see (a WebSocket upgrade), by the same rule. */
export function upgradeClientIp(req: IncomingMessage, trust: ReturnType<typeof compileTrust>): string {
  let ip: string | undefined;
  try {
    ip = proxyAddr(req, trust);
  } catch {
    ip = undefined;
  }
  return orPeer(ip, req);
}
