// Where `npm start` may listen, and how. Plain HTTP only on loopback (http://localhost is a
// secure context, so WebCrypto and the service worker work there); any other interface needs
// TLS here (certificate + key) or an explicitly declared TLS proxy in front.
import { existsSync } from 'node:fs';
import { connect, createServer, isIP } from 'node:net';

export class BindError extends Error {}

export function isLoopback(host) {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === '::1';
}

const truthy = (v) => ['1', 'true', 'yes'].includes(String(v ?? '').toLowerCase());

/**
 * Decides the listening plan from the environment.
 * @returns {{ host: string, port: number, scheme: 'http' | 'https', tls: null | { cert: string, key: string }, behindProxy: boolean, url: string }}
 */
export function bindPlan(env, fileExists = existsSync) {
  const host = env.HOST || '127.0.0.1';
  const portRaw = env.PORT || '8000';
  const port = Number(portRaw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BindError(`PORT must be a port number 1-65535, got ${JSON.stringify(portRaw)}`);
  }
  const cert = env.SECURE_DROP_TLS_CERT;
  const key = env.SECURE_DROP_TLS_KEY;
  if (Boolean(cert) !== Boolean(key)) {
    throw new BindError('set both SECURE_DROP_TLS_CERT and SECURE_DROP_TLS_KEY (PEM files), or neither');
  }
  for (const [name, file] of [
    ['SECURE_DROP_TLS_CERT', cert],
    ['SECURE_DROP_TLS_KEY', key],
  ]) {
    if (file && !fileExists(file)) throw new BindError(`${name}: no file at ${file}`);
  }
  const behindProxy = truthy(env.SECURE_DROP_BEHIND_TLS_PROXY);
  const tls = cert && key ? { cert, key } : null;
  if (!isLoopback(host) && !tls && !behindProxy) {
    throw new BindError(
      `refusing to serve plain HTTP on ${host}: outside loopback the browser needs HTTPS ` +
        '(WebCrypto and service workers only work in a secure context, and sessions must not cross a network in clear). ' +
        'Either set SECURE_DROP_TLS_CERT and SECURE_DROP_TLS_KEY to a PEM certificate and key, ' +
        'or put a TLS proxy in front and set SECURE_DROP_BEHIND_TLS_PROXY=1 (see README, Configuration), ' +
        'or leave HOST unset to listen on 127.0.0.1 only.',
    );
  }
  const scheme = tls ? 'https' : 'http';
  const shownHost = isLoopback(host) ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return { host, port, scheme, tls, behindProxy, url: `${scheme}://${shownHost}:${port}` };
}

/** Where to reach our own listener: a wildcard bind is probed on loopback. */
export function probeAddress(host) {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** Whether `port` can be bound on `host` right now (checked before starting a child, so a
 * busy port gets a clear message instead of a crashed server). */
export function portFree(host, port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: host.replace(/^\[|\]$/g, ''), port, exclusive: true }, () =>
      server.close(() => resolve(true)),
    );
  });
}

/**
 * Whether `plan` (bindPlan) listens on IPv4 loopback while it names the address `localhost`.
 * A browser resolves localhost to [::1] as well as 127.0.0.1 and tries [::1] first; a program
 * listening on [::1] at that port — any local user's, taken before or during the run — would
 * get every request, the run's own health check (on 127.0.0.1) none the wiser.
 */
export function namesLocalhostOverIpv4(plan) {
  return /^https?:\/\/localhost:/.test(plan.url) && (plan.host === 'localhost' || isIP(plan.host) === 4);
}

/**
 * Holds [::1]:`port` for the run and forwards each connection to `targetHost`:`port` (where the
 * host listens), so `localhost` reaches the run's host over either family and no other program
 * can listen there. Resolves to the server (close it to release the port), or to null when this
 * machine has no IPv6 loopback (then no program can listen there either); a BindError when
 * another program already listens there.
 */
export function holdLoopbackV6(port, targetHost = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = createServer((client) => {
      const upstream = connect({ host: targetHost, port });
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    server.once('error', (err) => {
      if (err.code === 'EADDRINUSE')
        reject(
          new BindError(
            `port ${port} on [::1] is already in use by another program: a browser opening ` +
              `http://localhost:${port} would reach it, not Secure Drop. Stop it or set PORT`,
          ),
        );
      else if (['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EPROTONOSUPPORT'].includes(err.code)) resolve(null);
      else reject(err);
    });
    server.listen({ host: '::1', port, exclusive: true, ipv6Only: true }, () => resolve(server));
  });
}
