// The command line that serves the Django host: uvicorn with the project's h11 protocol, which
// adds a request-head deadline and JSON errors (django-host/host/protocol.py). `npm start` and
// the tests that run the real host (relay/test/helpers/host.ts, pwa/e2e/tls.ts) share it, so the
// tests run the host the way users get it.

/** uvicorn's arguments (after the Python interpreter), run from django-host/. */
export function hostServerArgs({ host, port, forwardedAllowIps = '127.0.0.1', logLevel = 'info' }) {
  return [
    '-m',
    'uvicorn',
    'host.asgi:application',
    '--http',
    'host.protocol:GuardedH11Protocol',
    '--host',
    host,
    '--port',
    String(port),
    '--proxy-headers',
    '--forwarded-allow-ips',
    forwardedAllowIps,
    '--no-server-header',
    // Frames the relay sends through the host's WebSocket forward (django-host/host/proxy_ws.py).
    '--ws-max-size',
    String(1 << 20),
    '--log-level',
    logLevel,
  ];
}
