"""Test setup: a fixture PWA build, a real upstream relay stand-in, and the host under uvicorn.

The fixture dist is written before Django is configured, because WhiteNoise indexes
WHITENOISE_ROOT when its middleware is created.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

DIST = Path(tempfile.mkdtemp(prefix='sd-test-dist-'))
APP_JS = b'console.log("secure drop fixture bundle");\n'
STYLE_CSS = b'body{margin:0}\n'


def _sri(data: bytes) -> str:
    return 'sha384-' + base64.b64encode(hashlib.sha384(data).digest()).decode()


# Shaped like Vite's output after pwa/build/integrity.ts: every script and stylesheet with SRI.
INDEX_HTML = (
    '<!doctype html><html><head>'
    f'<script type="module" crossorigin src="/assets/app-abc123.js" integrity="{_sri(APP_JS)}"></script>'
    f'<link rel="stylesheet" crossorigin href="/assets/style-def456.css" integrity="{_sri(STYLE_CSS)}">'
    '</head><body><div id="root"></div></body></html>'
).encode()
SW_JS = b'self.addEventListener("install", () => {});\n'
MANIFEST = json.dumps({'name': 'Secure Drop', 'start_url': '/', 'display': 'standalone'}).encode()


def _write_dist() -> None:
    (DIST / 'assets').mkdir()
    (DIST / 'index.html').write_bytes(INDEX_HTML)
    (DIST / 'sw.js').write_bytes(SW_JS)
    (DIST / 'manifest.webmanifest').write_bytes(MANIFEST)
    (DIST / 'assets' / 'app-abc123.js').write_bytes(APP_JS)
    (DIST / 'assets' / 'style-def456.css').write_bytes(STYLE_CSS)


_write_dist()
os.environ['SECURE_DROP_PWA_DIST'] = str(DIST)
os.environ['DJANGO_SETTINGS_MODULE'] = 'host.settings'
for name in ('SECURE_DROP_ALLOWED_HOSTS', 'SECURE_DROP_RELAY_URL', 'DJANGO_SECRET_KEY'):
    os.environ.pop(name, None)

import django  # noqa: E402

django.setup()

from host.config import HostConfig  # noqa: E402
from host.dispatch import build_application  # noqa: E402
from tests.servers import ThreadedServer, unused_port  # noqa: E402
from tests.upstream import Upstream  # noqa: E402


def host_config(relay_url: str, **overrides: Any) -> HostConfig:
    values: dict[str, Any] = {'pwa_dist': DIST, 'relay_url': relay_url, 'connect_timeout': 2.0, 'read_timeout': 10.0}
    values.update(overrides)
    return HostConfig(**values)


@pytest.fixture(scope='session')
def upstream():
    app = Upstream()
    server = ThreadedServer(app).start()
    app.url = server.url
    yield app
    server.stop()


@pytest.fixture(scope='session')
def host(upstream):
    """The host as deployed behind a local TLS proxy: loopback is a trusted forwarder."""
    server = ThreadedServer(build_application(host_config(upstream.url))).start()
    yield server.url
    server.stop()


@pytest.fixture(scope='session')
def untrusting_host(upstream):
    """The host with no trusted forwarder: client-sent X-Forwarded-* must be ignored."""
    server = ThreadedServer(build_application(host_config(upstream.url)), forwarded_allow_ips='192.0.2.1').start()
    yield server.url
    server.stop()


@pytest.fixture(scope='session')
def impatient_host(upstream):
    server = ThreadedServer(build_application(host_config(upstream.url, read_timeout=0.3))).start()
    yield server.url
    server.stop()


@pytest.fixture(scope='session')
def orphan_host():
    """The host pointed at a loopback port where no relay listens."""
    server = ThreadedServer(build_application(host_config(f'http://127.0.0.1:{unused_port()}'))).start()
    yield server.url
    server.stop()


def pytest_sessionfinish():
    shutil.rmtree(DIST, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    """Counts for `npm test` (scripts/test.mjs reads {passed, failed, skipped} from SD_TEST_REPORT)."""
    target = os.environ.get('SD_TEST_REPORT')
    if not target:
        return
    stats = terminalreporter.stats

    def count(key: str) -> int:
        return len([r for r in stats.get(key, []) if getattr(r, 'when', 'call') in ('call', 'setup', 'teardown')])

    report = {
        'passed': count('passed'),
        'failed': count('failed') + count('error'),
        'skipped': count('skipped'),
    }
    if sum(report.values()) == 0:
        report['failed'] = 1  # no test ran: never a green suite
    Path(target).write_text(json.dumps(report))
