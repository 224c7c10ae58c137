"""Security and cache headers: one definition used for every response the host sends.

Three paths send responses and all three use this module:
- WhiteNoise (static files) through `add_static_headers` (WHITENOISE_ADD_HEADERS_FUNCTION),
- Django views and error pages through `SecurityHeadersMiddleware`,
- the /api forward and its gateway errors through `api_security_header_pairs` (host/proxy_*.py),
  with the API's own policy (API_SECURITY_HEADERS).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# The policy starts from nothing and adds back only what the PWA uses.
_CSP_DIRECTIVES: tuple[tuple[str, str], ...] = (
    ('default-src', "'none'"),
    # The app's own bundles only: no inline script and no eval, so an injected string can't run.
    # 'wasm-unsafe-eval' lets those bundles compile WebAssembly — the app lock's Argon2id
    # (hash-wasm, pwa/src/storage/passphrase.ts), 3-5x faster than JavaScript, so the lock can
    # afford more memory — and nothing else: no JavaScript eval, no inline script.
    ('script-src', "'self' 'wasm-unsafe-eval'"),
    # Vite emits CSS as files. React style props go through CSSOM (element.style), which CSP
    # does not govern, so no 'unsafe-inline' is needed for them.
    ('style-src', "'self'"),
    # data: for the TOTP enrolment QR code the relay returns as a data URL; blob: for
    # decrypted photos and thumbnails, which only ever exist as object URLs in the page.
    ('img-src', "'self' blob: data:"),
    # fetch() to /api and the WebSocket /api/ws: same origin only. CSP Level 3 browsers match
    # ws:/wss: to the page's own host under 'self', so no scheme needs to be spelled out.
    ('connect-src', "'self'"),
    ('font-src', "'self'"),
    # The web app manifest and the service worker are served from this origin's root.
    ('manifest-src', "'self'"),
    # The service worker and the app lock's Argon2id worker (pwa/src/storage/kdf-worker.ts), a
    # module script of this origin; its response carries this same policy, whose
    # 'wasm-unsafe-eval' above lets it compile hash-wasm.
    ('worker-src', "'self'"),
    # No <base> tag is used; forbidding it stops relative URLs being redirected elsewhere.
    ('base-uri', "'none'"),
    # Forms submit through JavaScript; should one ever submit natively, it stays on this origin.
    ('form-action', "'self'"),
    # Nobody may frame the app (clickjacking on the safety-number and recovery-code screens).
    ('frame-ancestors', "'none'"),
    # Trusted Types (W3C Trusted Types §4, "require-trusted-types-for"): DOM sinks that turn a
    # string into script (innerHTML, script.src, eval, service worker registration…) refuse
    # plain strings. React builds the DOM through DOM APIs and nothing sets raw HTML
    # (pwa/src/views/test/no-html.test.ts); the two sinks the app uses are registering its
    # service worker and starting the app lock's key derivation worker, each through its own
    # policy, which accepts only that one URL (pwa/src/pwa/update.ts, pwa/src/storage/kdf.ts).
    # No other policy name may be created.
    ('require-trusted-types-for', "'script'"),
    ('trusted-types', 'secure-drop-sw secure-drop-kdf'),
)
CONTENT_SECURITY_POLICY = '; '.join(f'{name} {value}' for name, value in _CSP_DIRECTIVES)

# Camera for scanning a contact's safety-number QR code; fullscreen for the photo view;
# every other powerful feature this app never uses is denied, also to anything it embeds.
PERMISSIONS_POLICY = ', '.join(
    (
        'camera=(self)',
        'fullscreen=(self)',
        'microphone=()',
        'geolocation=()',
        'payment=()',
        'usb=()',
        'serial=()',
        'hid=()',
        'midi=()',
        'magnetometer=()',
        'gyroscope=()',
        'accelerometer=()',
        'display-capture=()',
        # The app lock's passkey (WebAuthn PRF, pwa/src/storage/passkey.ts), this origin only.
        'publickey-credentials-create=(self)',
        'publickey-credentials-get=(self)',
        'screen-wake-lock=()',
        'xr-spatial-tracking=()',
        'browsing-topics=()',
    )
)

BASE_SECURITY_HEADERS: dict[str, str] = {
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'Permissions-Policy': PERMISSIONS_POLICY,
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    # The app never opens or is opened by another origin's window.
    'Cross-Origin-Opener-Policy': 'same-origin',
    # Photos and API responses are for this origin only.
    'Cross-Origin-Resource-Policy': 'same-origin',
    # For browsers that predate frame-ancestors.
    'X-Frame-Options': 'DENY',
}

# The relay answers JSON and bytes, never a page or a script of the app: as a document, an /api
# answer runs nothing (sandbox, no source allowed). A relay that answered a navigation with a
# page of its own would otherwise have it run under the app's policy, whose script-src 'self'
# takes any script of this origin, /api's included; and an answer cannot widen a service
# worker's scope (Service-Worker-Allowed is dropped, host/forwarding.py). deploy/Caddyfile
# sends the same in production.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
API_SECURITY_HEADERS: dict[str, str] = {
    **BASE_SECURITY_HEADERS,
    'Content-Security-Policy': API_CONTENT_SECURITY_POLICY,
}

# Sent only on responses to requests that arrived over TLS (directly, or through a proxy
# uvicorn trusts via --forwarded-allow-ips): on plain-HTTP loopback it would be meaningless,
# and sending it for "localhost" could break other local development servers.
HSTS_VALUE = 'max-age=31536000'

IMMUTABLE = 'public, max-age=31536000, immutable'
NO_CACHE = 'no-cache'


def api_security_header_pairs(secure: bool) -> list[tuple[bytes, bytes]]:
    """The /api answers' headers as ASGI byte pairs (the forward and its errors, host/proxy_*.py)."""
    pairs = [(k.lower().encode('latin-1'), v.encode('latin-1')) for k, v in API_SECURITY_HEADERS.items()]
    if secure:
        pairs.append((b'strict-transport-security', HSTS_VALUE.encode('latin-1')))
    return pairs


def is_hashed_asset(url: str) -> bool:
    # Vite writes content-hashed names under /assets/ only; everything else may change in place.
    return url.startswith('/assets/')


def add_static_headers(headers, _path: str, url: str) -> None:  # WhiteNoise's signature, called positionally
    """WHITENOISE_ADD_HEADERS_FUNCTION: cache rule and security headers for a static file.

    WhiteNoise answers before the rest of Django's middleware runs, so static files get their
    headers here. index.html, sw.js and manifest.webmanifest must never be long-cached: a
    stale service worker or shell would keep old code running after an update.
    """
    headers['Cache-Control'] = IMMUTABLE if is_hashed_asset(url) else NO_CACHE
    for name, value in BASE_SECURITY_HEADERS.items():
        headers[name] = value


class SecurityHeadersMiddleware:
    """Adds the security headers to every Django response (views, 404s, errors, and — since it
    sits above WhiteNoise — HSTS to static files when the request came over TLS)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for name, value in BASE_SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.scheme == 'https':
            response.headers['Strict-Transport-Security'] = HSTS_VALUE
        response.headers.setdefault('Cache-Control', NO_CACHE)
        return response
