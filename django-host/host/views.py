"""The SPA shell, the health check and JSON error pages."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from host.headers import NO_CACHE

# Names `npm start`'s run (scripts/start.mjs waits for it): a health answer without it is not ours.
RUN_HEADER = 'Secure-Drop-Run'


def _index_path() -> Path:
    return Path(settings.WHITENOISE_ROOT) / 'index.html'


_cache: dict[str, tuple[tuple[int, int], bytes]] = {}


def _read_index() -> bytes | None:
    """index.html, re-read only when the file changes (a rebuild while the host runs)."""
    path = _index_path()
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    key = (st.st_mtime_ns, st.st_size)
    cached = _cache.get('index')
    if cached and cached[0] == key:
        return cached[1]
    body = path.read_bytes()
    _cache['index'] = (key, body)
    return body


def looks_like_file(path: str) -> bool:
    """True for paths the SPA must never answer with index.html: /api, /assets and any path
    whose last segment has an extension (a missing /assets/x.js or /favicon.png is a 404, so a
    stale cached page never executes HTML as a script)."""
    if path == '/api' or path.startswith('/api/'):
        return True
    if path.startswith('/assets/') or path == '/assets':
        return True
    last = path.rsplit('/', 1)[-1]
    return '.' in last


def error_response(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({'error': code, 'message': message}, status=status)
    response['Cache-Control'] = 'no-store'
    return response


@require_safe
def spa_shell(request: HttpRequest) -> HttpResponse:
    if looks_like_file(request.path):
        return error_response(404, 'not_found', 'no such file')
    body = _read_index()
    if body is None:
        return error_response(503, 'pwa_not_built', 'the PWA build (index.html) is missing')
    response = HttpResponse(body, content_type='text/html; charset=utf-8')
    response['Cache-Control'] = NO_CACHE
    return response


@require_safe
def healthz(_request: HttpRequest) -> HttpResponse:
    if _read_index() is None:
        return error_response(503, 'pwa_not_built', 'the PWA build (index.html) is missing')
    response = JsonResponse({'status': 'ok'})
    response['Cache-Control'] = 'no-store'
    if settings.CONFIG.run_id:
        response[RUN_HEADER] = settings.CONFIG.run_id
    return response


def not_found(_request: HttpRequest, exception: Exception) -> HttpResponse:  # noqa: ARG001 (Django passes exception= by name)
    return error_response(404, 'not_found', 'no such page')


def server_error(_request: HttpRequest) -> HttpResponse:
    return error_response(500, 'internal', 'internal error')
