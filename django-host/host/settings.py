"""Django settings for django-host. Values come from host.config (environment), never from here."""

import warnings

from host.config import load_config
from host.headers import add_static_headers, is_hashed_asset

CONFIG = load_config()

SECRET_KEY = CONFIG.secret_key
# Never on: it would serve stack traces and disable the caching rules.
DEBUG = False
ALLOWED_HOSTS = list(CONFIG.allowed_hosts)

# No models, sessions, auth or admin: this host serves files and forwards /api.
INSTALLED_APPS: list[str] = []
DATABASES: dict = {}

MIDDLEWARE = [
    # Above WhiteNoise so it also sees static responses (HSTS for TLS requests).
    'host.headers.SecurityHeadersMiddleware',
    'whitenoise.middleware.WhiteNoiseMiddleware',
]

ROOT_URLCONF = 'host.urls'
ASGI_APPLICATION = 'host.asgi.application'

USE_TZ = True

# The PWA build is served from the site root: /index.html, /sw.js, /manifest.webmanifest,
# /assets/<name>-<hash>.js. STATIC_URL is unused (no Django static files) but WhiteNoise reads it.
STATIC_URL = '/static/'
STATIC_ROOT = None
WHITENOISE_ROOT = str(CONFIG.pwa_dist)
WHITENOISE_AUTOREFRESH = False
WHITENOISE_USE_FINDERS = False
WHITENOISE_ALLOW_ALL_ORIGINS = False
WHITENOISE_INDEX_FILE = False  # "/" and app routes go to the SPA view (no-cache index.html)


def _immutable_file_test(_path: str, url: str) -> bool:
    return is_hashed_asset(url)


WHITENOISE_IMMUTABLE_FILE_TEST = _immutable_file_test
WHITENOISE_ADD_HEADERS_FUNCTION = add_static_headers
WHITENOISE_MIMETYPES = {
    '.webmanifest': 'application/manifest+json',
    '.js': 'text/javascript',
    '.mjs': 'text/javascript',
}

LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {'console': {'class': 'logging.StreamHandler'}},
    'root': {'handlers': ['console'], 'level': 'WARNING'},
}

# WhiteNoise's file responses are synchronous iterators; under ASGI Django reads them in a
# worker thread and warns each time. The PWA's files are small (the large bodies, photos,
# never reach Django: host/proxy_http.py streams them), so the warning is noise here.
warnings.filterwarnings('ignore', message='StreamingHttpResponse must consume synchronous iterators')
