"""Security headers on every kind of response, HSTS only over TLS, and the cache rules."""

import httpx
import pytest

from host.headers import API_CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY

EVERY_KIND = [
    ('GET', '/'),  # the shell via the SPA view
    ('GET', '/chats/alice'),
    ('GET', '/index.html'),  # static via WhiteNoise
    ('GET', '/assets/app-abc123.js'),
    ('GET', '/sw.js'),
    ('GET', '/manifest.webmanifest'),
    ('GET', '/assets/nope-000.js'),  # 404
    ('POST', '/'),  # 405
    ('GET', '/healthz'),
    ('GET', '/api/echo'),  # forwarded
    ('GET', '/api/status/418'),  # forwarded error
    ('GET', '/api/noisy-headers'),  # relay sends its own, weaker headers
]


def expected_csp(path: str) -> str:
    # An /api answer runs nothing as a document (host/headers.py API_SECURITY_HEADERS).
    return API_CONTENT_SECURITY_POLICY if path.startswith('/api/') else CONTENT_SECURITY_POLICY


def directives(csp: str) -> dict[str, str]:
    return {part.split(' ', 1)[0]: part.split(' ', 1)[1] for part in (p.strip() for p in csp.split(';'))}


@pytest.mark.parametrize(('method', 'path'), EVERY_KIND)
def test_security_headers_everywhere(host, method, path):
    r = httpx.request(method, host + path)
    assert r.headers['content-security-policy'] == expected_csp(path)
    assert r.headers['referrer-policy'] == 'no-referrer'
    assert r.headers['x-content-type-options'] == 'nosniff'
    assert r.headers['cross-origin-opener-policy'] == 'same-origin'
    assert 'camera=(self)' in r.headers['permissions-policy']
    assert 'strict-transport-security' not in r.headers  # plain HTTP
    assert len(r.headers.get_list('content-security-policy')) == 1


def test_csp_starts_from_none_and_allows_no_inline_script():
    d = directives(CONTENT_SECURITY_POLICY)
    assert d['default-src'] == "'none'"
    # WebAssembly compilation only (the app lock's Argon2id); never eval or inline script.
    assert d['script-src'] == "'self' 'wasm-unsafe-eval'"
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert d['connect-src'] == "'self'"
    assert d['frame-ancestors'] == "'none'"
    assert d['base-uri'] == "'none'"
    assert set(d['img-src'].split()) == {"'self'", 'blob:', 'data:'}


def test_trusted_types_are_required_and_only_the_two_worker_policies_may_be_created():
    # A string reaching a script sink (innerHTML, script.src, eval) throws instead of running;
    # the only policies are the two that turn the service worker's URL and the key derivation
    # worker's URL into a TrustedScriptURL (no 'allow-duplicates': each is created once).
    d = directives(CONTENT_SECURITY_POLICY)
    assert d['require-trusted-types-for'] == "'script'"
    assert d['trusted-types'].split() == ['secure-drop-sw', 'secure-drop-kdf']


def test_the_key_derivation_worker_may_start_and_compile_webassembly():
    # The app lock's Argon2id runs in a module worker of this origin (pwa/src/storage/kdf.ts);
    # the worker script gets this same policy, so it needs 'self' for workers and
    # 'wasm-unsafe-eval' for hash-wasm — and still no JavaScript eval, no other origin.
    d = directives(CONTENT_SECURITY_POLICY)
    assert d['worker-src'] == "'self'"
    assert set(d['script-src'].split()) == {"'self'", "'wasm-unsafe-eval'"}


def test_permissions_policy_denies_what_the_app_never_uses(host):
    policy = httpx.get(host + '/').headers['permissions-policy']
    for feature in ('microphone', 'geolocation', 'payment', 'usb'):
        assert f'{feature}=()' in policy
    # Passkeys (the app lock's WebAuthn PRF) for this origin only, never for embedded content.
    assert 'publickey-credentials-get=(self)' in policy
    assert 'publickey-credentials-create=(self)' in policy


@pytest.mark.parametrize('path', ['/', '/assets/app-abc123.js', '/sw.js', '/api/echo', '/nope.js'])
def test_hsts_when_a_trusted_proxy_says_tls(host, path):
    r = httpx.get(host + path, headers={'X-Forwarded-Proto': 'https'})
    assert r.headers['strict-transport-security'] == 'max-age=31536000'


def test_no_hsts_when_an_untrusted_client_claims_tls(untrusting_host):
    r = httpx.get(untrusting_host + '/', headers={'X-Forwarded-Proto': 'https'})
    assert 'strict-transport-security' not in r.headers


def test_proxied_responses_use_the_hosts_headers_not_the_relays(host):
    r = httpx.get(host + '/api/noisy-headers')
    assert r.headers['content-security-policy'] == API_CONTENT_SECURITY_POLICY
    assert 'x-powered-by' not in r.headers
    # A relay cannot widen a service worker's scope to the app (a worker it serves under /api).
    assert 'service-worker-allowed' not in r.headers
    # Nor erase the device's keys and history and unregister the service worker, or have the
    # browser report the app's requests elsewhere: no answer changes state for the whole origin.
    assert 'clear-site-data' not in r.headers
    assert 'nel' not in r.headers
    assert 'report-to' not in r.headers
    # Nor set a cookie, which the browser sends with every request to the origin: a few of 4 KB
    # put every request, the app's own files included, over the servers' header limit (431) for
    # a year — the app unusable in that browser until its site data, keys and history with it,
    # is cleared. The app keeps nothing in cookies.
    assert 'set-cookie' not in r.headers
    assert r.headers['x-end-to-end'] == 'kept'


def test_an_api_answer_runs_nothing_as_a_document():
    # A relay that answers a navigation with a page of its own: the app's policy (script-src
    # 'self') would run any script of the origin, /api's too. The API's runs none.
    parts = API_CONTENT_SECURITY_POLICY.split('; ')
    assert "default-src 'none'" in parts
    assert 'sandbox' in parts
    assert not any(p.startswith(('script-src', 'worker-src')) for p in parts)


@pytest.mark.parametrize('path', ['/assets/app-abc123.js', '/assets/style-def456.css'])
def test_hashed_assets_are_immutable(host, path):
    assert httpx.get(host + path).headers['cache-control'] == 'public, max-age=31536000, immutable'


@pytest.mark.parametrize('path', ['/', '/chats/x', '/index.html', '/sw.js', '/manifest.webmanifest'])
def test_shell_worker_and_manifest_are_never_long_cached(host, path):
    assert httpx.get(host + path).headers['cache-control'] == 'no-cache'


def test_missing_asset_is_not_cacheable(host):
    r = httpx.get(host + '/assets/nope-000.js')
    assert r.status_code == 404
    assert 'immutable' not in r.headers['cache-control']
