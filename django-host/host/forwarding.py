"""What crosses the /api forward: path mapping, request and response header rules.

The browser sees one origin; the relay sees requests as if it were mounted at the root:
  /api/register        -> <relay>/register
  /api/get_photo/42?x  -> <relay>/get_photo/42?x
  /api/ws (WebSocket)  -> <relay>/ws
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from django.http.request import split_domain_port, validate_host

API_PREFIX = '/api'

# RFC 9110 §7.6.1: connection-specific fields a proxy must not forward, plus those it rebuilds.
HOP_BY_HOP = frozenset(
    {
        b'connection',
        b'keep-alive',
        b'proxy-authenticate',
        b'proxy-authorization',
        b'proxy-connection',
        b'te',
        b'trailer',
        b'transfer-encoding',
        b'upgrade',
    }
)

# Set by this host from what uvicorn resolved (it already applied --forwarded-allow-ips), so a
# client can never inject its own value: the relay trusts this hop, and its rate limits key
# on the address we pass.
_REBUILT_REQUEST = frozenset(
    {b'host', b'x-forwarded-for', b'x-forwarded-proto', b'x-forwarded-host', b'forwarded', b'x-real-ip', b'expect'}
)

# WebSocket handshake fields belong to each hop's own handshake.
_WS_HANDSHAKE = frozenset(
    {
        b'sec-websocket-key',
        b'sec-websocket-version',
        b'sec-websocket-extensions',
        b'sec-websocket-protocol',
        b'sec-websocket-accept',
        b'origin',
    }
)

# The host's own security headers replace whatever the relay sent (host/headers.py).
_REPLACED_RESPONSE = frozenset(
    {
        b'content-security-policy',
        b'permissions-policy',
        b'referrer-policy',
        b'x-content-type-options',
        b'cross-origin-opener-policy',
        b'cross-origin-resource-policy',
        b'x-frame-options',
        b'strict-transport-security',
        b'x-powered-by',
        b'server',
        # No /api answer may let a service worker control more than its own path (headers.py).
        b'service-worker-allowed',
        # Nor change the browser's state for the whole origin: Clear-Site-Data would erase
        # every key and message on the device and unregister the service worker; NEL (with
        # its Report-To group) would have the browser report the app's own requests, to an
        # address the relay chose, for as long as the relay said (SECURITY.md).
        b'clear-site-data',
        b'nel',
        b'report-to',
        # Nor set a cookie: the browser sends it with every request to the origin (and a parent
        # domain's with every sibling site's), and a few of 4 KB put all of them over the header
        # limit (431) for as long as the relay said, the app's own files included. The app keeps
        # nothing in cookies.
        b'set-cookie',
        b'date',  # the ASGI server sends its own
    }
)


def is_api_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + '/')


def upstream_target(scope: dict) -> bytes:
    """The relay path and query for an /api request, as raw bytes: the prefix stripped, the
    rest exactly as the browser sent it (percent-escapes kept, so /api/users/a%2Fb stays one
    segment). It always starts with "/" and is only ever appended to the relay's own origin."""
    raw = (scope.get('raw_path') or b'').split(b'?', 1)[0]
    if not raw.startswith(API_PREFIX.encode()):
        # The prefix itself was percent-encoded (/%61pi/x): use the decoded path, re-quoted.
        raw = quote(scope['path'], safe="/:@!$&'()*+,;=-._~").encode('ascii')
    path = raw[len(API_PREFIX) :] or b'/'
    query = scope.get('query_string') or b''
    return path + (b'?' + query if query else b'')


def _connection_listed(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    listed: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b'connection':
            listed.update(token.strip().lower() for token in value.split(b','))
    return frozenset(listed)


def request_host(scope: dict) -> str:
    for name, value in scope.get('headers', []):
        if name == b'host':
            return value.decode('latin-1')
    server = scope.get('server')
    return f'{server[0]}:{server[1]}' if server else ''


def host_allowed(scope: dict, allowed_hosts: Iterable[str]) -> bool:
    """The same Host check Django applies to its own views (ALLOWED_HOSTS)."""
    domain, _port = split_domain_port(request_host(scope))
    return bool(domain) and validate_host(domain, list(allowed_hosts))


def forwarded_headers(scope: dict) -> list[tuple[bytes, bytes]]:
    client = scope.get('client')
    pairs = [
        (b'x-forwarded-proto', b'https' if scope.get('scheme') in ('https', 'wss') else b'http'),
        (b'x-forwarded-host', request_host(scope).encode('latin-1')),
    ]
    if client:
        pairs.append((b'x-forwarded-for', str(client[0]).encode('latin-1')))
    return pairs


def request_headers(scope: dict, *, websocket: bool = False) -> list[tuple[bytes, bytes]]:
    """Headers for the upstream request: end-to-end ones from the client (Authorization,
    Content-Type, Content-Length, Cookie, User-Agent…), plus the rebuilt X-Forwarded-*.
    The Host header is kept so the relay sees the name the browser used."""
    headers = scope.get('headers', [])
    drop = HOP_BY_HOP | _REBUILT_REQUEST | _connection_listed(headers)
    if websocket:
        drop |= _WS_HANDSHAKE
    kept = [(n, v) for n, v in headers if n.lower() not in drop]
    host = request_host(scope)
    if not websocket and host:
        kept.append((b'host', host.encode('latin-1')))
    return kept + forwarded_headers(scope)


def response_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    headers = list(headers)
    drop = HOP_BY_HOP | _REPLACED_RESPONSE | _connection_listed(headers)
    return [(n.lower(), v) for n, v in headers if n.lower() not in drop]
