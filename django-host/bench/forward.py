"""What the /api forward costs: the same workloads against the upstream directly (the baseline,
measured in the same run) and through the host, printed as ratios.

Run: node scripts/django-host-bench.mjs   (results go in django-host/BENCHMARKS.md)

Three processes, as in production: the upstream (the relay stand-in from tests/upstream.py)
and the host each under their own uvicorn, and this client.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

HOST_DIR = Path(__file__).resolve().parent.parent
MiB = 1 << 20
PHOTO = 25 * MiB
ROUNDS = 5
SMALL_REQUESTS = 400
WS_ROUND_TRIPS = 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def serve(app: str, port: int, env: dict[str, str], factory: bool = False) -> subprocess.Popen:
    args = [sys.executable, '-m', 'uvicorn', app, '--host', '127.0.0.1', '--port', str(port), '--log-level', 'warning']
    if factory:
        args.append('--factory')
    process = subprocess.Popen(args, cwd=HOST_DIR, env={**os.environ, **env})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f'{app} did not start')


def chunks(size: int):
    block = bytes(range(256)) * 256
    for _ in range(size // len(block)):
        yield block


def time_download(base: str) -> float:
    start = time.perf_counter()
    with httpx.stream('GET', f'{base}/download?size={PHOTO}&gate=0', timeout=60) as response:
        received = sum(len(c) for c in response.iter_raw())
    assert received == PHOTO
    return time.perf_counter() - start


def time_upload(base: str) -> float:
    start = time.perf_counter()
    response = httpx.post(f'{base}/upload', content=chunks(PHOTO), headers={'Content-Length': str(PHOTO)}, timeout=60)
    assert response.json()['bytes'] == PHOTO
    return time.perf_counter() - start


def time_small(base: str) -> float:
    with httpx.Client(timeout=10) as client:
        start = time.perf_counter()
        for _ in range(SMALL_REQUESTS):
            client.post(f'{base}/echo', content=b'{"to":"bob","body":"AAAA"}').raise_for_status()
        return time.perf_counter() - start


def time_ws(base: str) -> float:
    async def run() -> float:
        async with connect(base.replace('http', 'ws') + '/ws', max_size=None) as ws:
            await ws.recv()  # hello
            start = time.perf_counter()
            for _ in range(WS_ROUND_TRIPS):
                await ws.send('x' * 200)
                await ws.recv()
            return time.perf_counter() - start

    return asyncio.run(run())


def median(fn, base: str) -> float:
    fn(base)  # warm-up
    return statistics.median(fn(base) for _ in range(ROUNDS))


def main() -> None:
    upstream_port, host_port = free_port(), free_port()
    dist = Path(tempfile.mkdtemp(prefix='sd-bench-dist-'))
    (dist / 'index.html').write_text('<!doctype html>')
    upstream = serve('tests.upstream:Upstream', upstream_port, {}, factory=True)
    host = serve(
        'host.asgi:application',
        host_port,
        {'SECURE_DROP_RELAY_URL': f'http://127.0.0.1:{upstream_port}', 'SECURE_DROP_PWA_DIST': str(dist)},
    )
    direct, proxied = f'http://127.0.0.1:{upstream_port}', f'http://127.0.0.1:{host_port}/api'
    try:
        print(f'median of {ROUNDS} rounds each; ratio = through host / direct (1.00 = no cost)\n')
        print(f'{"workload":<34}{"direct":>12}{"via host":>12}{"ratio":>8}')
        rows = [
            ('25 MiB download (MiB/s)', time_download, lambda s: PHOTO / MiB / s),
            ('25 MiB upload (MiB/s)', time_upload, lambda s: PHOTO / MiB / s),
            (f'{SMALL_REQUESTS} small POSTs, 1 conn (req/s)', time_small, lambda s: SMALL_REQUESTS / s),
            (f'{WS_ROUND_TRIPS} WebSocket round trips (rt/s)', time_ws, lambda s: WS_ROUND_TRIPS / s),
        ]
        for name, fn, rate in rows:
            a, b = rate(median(fn, direct)), rate(median(fn, proxied))
            print(f'{name:<34}{a:>12.1f}{b:>12.1f}{b / a:>8.2f}')
    finally:
        for process in (host, upstream):
            process.terminate()
            process.wait(10)


if __name__ == '__main__':
    main()
