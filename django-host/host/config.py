"""django-host configuration, read once from the environment and validated at start.

Every variable is documented in README.md (Configuration). Nothing here is a secret:
Django's SECRET_KEY signs nothing this host relies on (no sessions, no CSRF forms, no
cookies), so when DJANGO_SECRET_KEY is unset a random per-process key is used.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

HOST_DIR = Path(__file__).resolve().parent.parent

DEFAULT_RELAY_URL = 'http://127.0.0.1:3000'  # relay/src/config.ts PORT default
DEFAULT_ALLOWED_HOSTS = ('localhost', '127.0.0.1', '[::1]')


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _positive_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == '':
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f'{name} must be a number of seconds, got {raw!r}') from None
    if not value > 0:
        raise ConfigError(f'{name} must be greater than 0, got {raw!r}')
    return value


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == '':
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigError(f'{name} must be a positive integer, got {raw!r}')
    return int(raw)


def _relay_url(env: dict[str, str]) -> str:
    raw = env.get('SECURE_DROP_RELAY_URL') or DEFAULT_RELAY_URL
    parts = urlsplit(raw)
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise ConfigError(f'SECURE_DROP_RELAY_URL must be an http(s) URL like {DEFAULT_RELAY_URL}, got {raw!r}')
    if parts.query or parts.fragment:
        raise ConfigError('SECURE_DROP_RELAY_URL must not carry a query or fragment')
    return raw.rstrip('/')


@dataclass(frozen=True)
class HostConfig:
    pwa_dist: Path
    relay_url: str
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    connect_timeout: float = 5.0
    # Per read, not per response: a 25 MiB photo may take longer than this in total.
    read_timeout: float = 60.0
    ws_max_bytes: int = 1 << 20
    # Connections kept to the relay for requests without a body (a pool), and the most
    # upstream connections open at once for requests with one (each its own connection).
    max_connections: int = 200
    # A request body may pause this long between chunks, and take this long in all.
    body_idle_timeout: float = 30.0
    body_timeout: float = 3600.0
    # /api requests (HTTP and WebSocket) one client address may have in progress at once.
    max_requests_per_client: int = 32
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50), repr=False)
    # `npm start`'s per-run id (scripts/start.mjs): /healthz names it, so the run can tell its
    # own host from another program that took the port after it was found free.
    run_id: str | None = None

    @property
    def relay_ws_url(self) -> str:
        return 'ws' + self.relay_url[len('http') :]


def load_config(env: dict[str, str] | None = None) -> HostConfig:
    env = dict(os.environ if env is None else env)
    # Read by host.protocol (uvicorn's protocol class, which never sees this config); checked here.
    _positive_float(env, 'SECURE_DROP_HEADERS_TIMEOUT', 20.0)
    dist_raw = env.get('SECURE_DROP_PWA_DIST') or str(HOST_DIR.parent / 'pwa' / 'dist')
    dist = Path(dist_raw)
    if not dist.is_absolute():
        # Relative paths are relative to django-host/, so the default '../pwa/dist' works
        # whatever directory the server was started from.
        dist = (HOST_DIR / dist).resolve()
    hosts_raw = env.get('SECURE_DROP_ALLOWED_HOSTS', '')
    hosts = tuple(h.strip() for h in hosts_raw.split(',') if h.strip()) or DEFAULT_ALLOWED_HOSTS
    if '*' in hosts:
        raise ConfigError('SECURE_DROP_ALLOWED_HOSTS must list host names, not "*"')
    return HostConfig(
        pwa_dist=dist,
        relay_url=_relay_url(env),
        allowed_hosts=hosts,
        connect_timeout=_positive_float(env, 'SECURE_DROP_PROXY_CONNECT_TIMEOUT', 5.0),
        read_timeout=_positive_float(env, 'SECURE_DROP_PROXY_READ_TIMEOUT', 60.0),
        ws_max_bytes=_positive_int(env, 'SECURE_DROP_WS_MAX_BYTES', 1 << 20),
        max_connections=_positive_int(env, 'SECURE_DROP_PROXY_MAX_CONNECTIONS', 200),
        body_idle_timeout=_positive_float(env, 'SECURE_DROP_BODY_IDLE_TIMEOUT', 30.0),
        body_timeout=_positive_float(env, 'SECURE_DROP_BODY_TIMEOUT', 3600.0),
        max_requests_per_client=_positive_int(env, 'SECURE_DROP_MAX_REQUESTS_PER_CLIENT', 32),
        secret_key=env.get('DJANGO_SECRET_KEY') or secrets.token_urlsafe(50),
        run_id=_run_id(env),
    )


def _run_id(env: dict[str, str]) -> str | None:
    raw = env.get('SECURE_DROP_RUN_ID')
    if not raw:
        return None
    if not re.fullmatch(r'[0-9a-f]{32}', raw):
        raise ConfigError('SECURE_DROP_RUN_ID must be 32 lower-case hex digits (npm start sets it)')
    return raw
