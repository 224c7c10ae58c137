"""Real servers for the reliability harness (RELIABILITY.md): the relay from its TypeScript
sources on its own embedded PostgreSQL (as pwa/e2e/relay.ts starts it) and the Django host
under uvicorn with the flags `npm start` uses (as relay/test/helpers/host.ts starts it). Each
picks its own port; everything started is stopped and removed afterwards."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RELAY_DIR = ROOT / 'relay'
HOST_DIR = ROOT / 'django-host'


class Child:
    """A child process whose whole output is kept (for log checks) and waited on for a line."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]):
        self.output = ''
        self.args = args
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b''):
            with self._lock:
                self.output += raw.decode('utf-8', 'replace')

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                m = re.search(pattern, self.output)
            if m:
                return m
            if self.proc.poll() is not None:
                raise RuntimeError(f'{self.args[:3]} exited ({self.proc.returncode}):\n{self.output[-3000:]}')
            time.sleep(0.05)
        raise RuntimeError(f'timed out waiting for {pattern!r}:\n{self.output[-3000:]}')

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Relay:
    """`node --conditions=source --import tsx src/server.ts` with NODE_ENV=development and no
    DATABASE_URL: the relay starts its own embedded PostgreSQL in DATA_DIR."""

    def __init__(self, env: dict[str, str] | None = None, origin: str = 'http://127.0.0.1'):
        self.data_dir = Path(tempfile.mkdtemp(prefix='sd-harness-relay-'))
        self.port = free_port()
        base = {k: v for k, v in os.environ.items() if k != 'DATABASE_URL'}
        self.env = {
            **base,
            'NODE_ENV': 'development',
            'HOST': '127.0.0.1',
            'PORT': str(self.port),
            'DATA_DIR': str(self.data_dir),
            'LOG_LEVEL': 'info',
            'WS_ALLOWED_ORIGINS': origin,
            **(env or {}),
        }
        self.child = Child(['node', '--conditions=source', '--import', 'tsx', 'src/server.ts'], RELAY_DIR, self.env)
        try:
            self.child.wait_for(r'relay listening', 180)
        except BaseException:
            self.stop()
            raise
        self.url = f'http://127.0.0.1:{self.port}'

    def stop(self) -> None:
        self.child.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class Host:
    """The Django host (uvicorn, the protocol class and flags of `npm start`) in front of `relay_url`."""

    def __init__(self, relay_url: str, env: dict[str, str] | None = None):
        self.dist = Path(tempfile.mkdtemp(prefix='sd-harness-dist-'))
        (self.dist / 'index.html').write_text('<!doctype html><title>fixture</title>')
        self.child = Child(
            [
                sys.executable,
                '-m',
                'uvicorn',
                'host.asgi:application',
                '--http',
                'host.protocol:GuardedH11Protocol',
                '--host',
                '127.0.0.1',
                '--port',
                '0',
                '--proxy-headers',
                '--forwarded-allow-ips',
                '127.0.0.1',
                '--no-server-header',
                '--log-level',
                'info',
            ],
            HOST_DIR,
            {
                'PATH': os.environ.get('PATH', ''),
                'HOME': os.environ.get('HOME', ''),
                'SECURE_DROP_RELAY_URL': relay_url,
                'SECURE_DROP_PWA_DIST': str(self.dist),
                'PYTHONUNBUFFERED': '1',
                **(env or {}),
            },
        )
        try:
            m = self.child.wait_for(r'Uvicorn running on http://127\.0\.0\.1:(\d+)', 60)
        except BaseException:
            self.stop()
            raise
        self.port = int(m.group(1))
        self.url = f'http://127.0.0.1:{self.port}'

    def stop(self) -> None:
        self.child.stop()
        shutil.rmtree(self.dist, ignore_errors=True)
