"""Routes: the SPA shell for app routes, real files at the root, 404 for anything file-like."""

from dataclasses import replace

import httpx
import pytest
from django.conf import settings

from tests.conftest import APP_JS, INDEX_HTML, MANIFEST, SW_JS


@pytest.mark.parametrize('path', ['/', '/chats', '/chats/alice', '/settings/safety-number/bob', '/login?next=%2Fchats'])
def test_app_routes_get_the_shell(host, path):
    r = httpx.get(host + path)
    assert r.status_code == 200
    assert r.content == INDEX_HTML
    assert r.headers['content-type'] == 'text/html; charset=utf-8'


@pytest.mark.parametrize(
    'path',
    ['/assets/missing-999.js', '/assets/', '/assets', '/favicon.png', '/robots.txt', '/chats/photo.jpg', '/sw-old.js'],
)
def test_file_like_paths_are_404_never_the_shell(host, path):
    r = httpx.get(host + path)
    assert r.status_code == 404
    assert r.content != INDEX_HTML
    assert r.json()['error'] == 'not_found'


def test_root_files_and_assets_are_served(host):
    assert httpx.get(host + '/assets/app-abc123.js').content == APP_JS
    assert httpx.get(host + '/sw.js').content == SW_JS
    assert httpx.get(host + '/manifest.webmanifest').content == MANIFEST
    assert httpx.get(host + '/index.html').content == INDEX_HTML


def test_content_types(host):
    assert httpx.get(host + '/manifest.webmanifest').headers['content-type'] == 'application/manifest+json'
    assert httpx.get(host + '/sw.js').headers['content-type'].startswith('text/javascript')
    assert httpx.get(host + '/assets/app-abc123.js').headers['content-type'].startswith('text/javascript')
    assert httpx.get(host + '/assets/style-def456.css').headers['content-type'].startswith('text/css')


def test_service_worker_scope_is_the_whole_site(host):
    # Served from the root, the worker's default scope is "/", so it controls every app route
    # without a Service-Worker-Allowed header; and it must not redirect (browsers refuse that).
    r = httpx.get(host + '/sw.js', headers={'Service-Worker': 'script'})
    assert r.status_code == 200
    assert r.url.path == '/sw.js'
    assert 'service-worker-allowed' not in r.headers


def test_head_gets_headers_without_body(host):
    r = httpx.head(host + '/chats/alice')
    assert r.status_code == 200
    assert r.content == b''
    assert r.headers['cache-control'] == 'no-cache'


def test_unsafe_methods_on_the_shell_are_405(host):
    r = httpx.post(host + '/chats', content=b'x')
    assert r.status_code == 405


def test_healthz(host):
    r = httpx.get(host + '/healthz')
    assert r.status_code == 200
    assert r.json() == {'status': 'ok'}
    assert r.headers['cache-control'] == 'no-store'
    assert 'secure-drop-run' not in r.headers


def test_healthz_names_the_npm_start_run(host, monkeypatch):
    # scripts/start.mjs gives its children SECURE_DROP_RUN_ID and waits for an answer naming it:
    # one without it is another program's, on a port taken after the run found it free.
    run_id = 'b2' * 16
    monkeypatch.setattr(settings, 'CONFIG', replace(settings.CONFIG, run_id=run_id))
    r = httpx.get(host + '/healthz')
    assert r.status_code == 200
    assert r.headers['secure-drop-run'] == run_id


def test_unknown_host_name_is_refused_everywhere(host):
    for path in ('/', '/assets/app-abc123.js', '/api/echo'):
        r = httpx.get(host + path, headers={'Host': 'evil.example'})
        assert r.status_code == 400, path
        assert r.json()['error'] == 'bad_host'


def test_websocket_outside_api_is_refused(host):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as caught:
        connect(host.replace('http', 'ws') + '/ws', open_timeout=5)
    assert caught.value.response.status_code == 403
