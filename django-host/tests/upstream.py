"""A small real relay stand-in for the forward tests: plain ASGI under uvicorn, real sockets.

It reports what it received (path, headers, body digest) so tests can check what crossed the
forward, and it can misbehave on purpose (slow, truncated body, crash, refused handshake).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from urllib.parse import parse_qs

CHUNK = bytes(range(256)) * 256  # 64 KiB


def pattern(size: int):
    """The deterministic byte stream /download serves, chunk by chunk."""
    sent = 0
    while sent < size:
        piece = CHUNK[: min(len(CHUNK), size - sent)]
        sent += len(piece)
        yield piece


class Upstream:
    def __init__(self) -> None:
        self.upload_started = threading.Event()
        self.download_first_chunk_seen = threading.Event()
        self.ws_client_closes: list[tuple[int, str]] = []
        self.ws_closed = threading.Event()
        # Every HTTP request path that reached this upstream (to prove what was not forwarded).
        self.seen: list[str] = []
        self.url = ''  # set once the server listens (tests/conftest.py)
        self.body_disconnects = 0

    async def __call__(self, scope, receive, send):
        if scope['type'] == 'lifespan':
            while True:
                message = await receive()
                if message['type'] == 'lifespan.startup':
                    await send({'type': 'lifespan.startup.complete'})
                else:
                    await send({'type': 'lifespan.shutdown.complete'})
                    return
        if scope['type'] == 'websocket':
            await self.websocket(scope, receive, send)
            return
        self.seen.append(scope['raw_path'].decode('latin-1'))
        route = getattr(self, 'route_' + scope['path'].strip('/').split('/')[0].replace('-', '_'), None)
        await (route or self.route_echo)(scope, receive, send)

    @staticmethod
    async def respond(send, status, body: bytes, headers=()):
        await send(
            {
                'type': 'http.response.start',
                'status': status,
                'headers': [(b'content-length', str(len(body)).encode()), *headers],
            }
        )
        await send({'type': 'http.response.body', 'body': body})

    @staticmethod
    def headers_of(scope) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in scope['headers']:
            out.setdefault(name.decode('latin-1'), []).append(value.decode('latin-1'))
        return out

    async def route_echo(self, scope, receive, send):
        digest = hashlib.sha256()
        size = 0
        while True:
            message = await receive()
            chunk = message.get('body', b'')
            digest.update(chunk)
            size += len(chunk)
            if not message.get('more_body'):
                break
        body = json.dumps(
            {
                'method': scope['method'],
                'path': scope['path'],
                'raw_path': scope['raw_path'].decode('latin-1'),
                'query': scope['query_string'].decode('latin-1'),
                'headers': self.headers_of(scope),
                'bytes': size,
                'sha256': digest.hexdigest(),
            }
        ).encode()
        await self.respond(send, 200, body, [(b'content-type', b'application/json')])

    async def route_upload(self, _scope, receive, send):
        digest = hashlib.sha256()
        size = 0
        chunks = 0
        while True:
            message = await receive()
            chunk = message.get('body', b'')
            if chunk:
                self.upload_started.set()
                digest.update(chunk)
                size += len(chunk)
                chunks += 1
            if not message.get('more_body'):
                break
        body = json.dumps({'bytes': size, 'sha256': digest.hexdigest(), 'chunks': chunks}).encode()
        await self.respond(send, 201, body, [(b'content-type', b'application/json')])

    async def route_download(self, scope, _receive, send):
        query = parse_qs(scope['query_string'].decode())
        size = int(query['size'][0])
        gated = query.get('gate', ['1'])[0] != '0'  # the benchmark streams without the gate
        await send(
            {
                'type': 'http.response.start',
                'status': 200,
                'headers': [(b'content-length', str(size).encode()), (b'content-type', b'application/octet-stream')],
            }
        )
        first = True
        for piece in pattern(size):
            await send({'type': 'http.response.body', 'body': piece, 'more_body': True})
            if first and gated:
                first = False
                # Send the rest only once the client holds the first chunk: a forward that
                # buffered the whole response would never deliver it, and the test fails.
                seen = await asyncio.to_thread(self.download_first_chunk_seen.wait, 30)
                if not seen:
                    raise RuntimeError('the client never received the first chunk')
        await send({'type': 'http.response.body', 'body': b''})

    async def route_refuse_early(self, scope, _receive, send):
        """Answers from the headers alone, as the relay does for a too-large photo or a bad token."""
        code = 401 if 'unauthorized' in scope['query_string'].decode() else 413
        await self.respond(
            send,
            code,
            b'{"error":"payload_too_large","message":"early"}',
            [(b'content-type', b'application/json'), (b'connection', b'close')],
        )

    async def route_drain(self, _scope, receive, send):
        """Reads the body; counts a browser that went away before its end."""
        while True:
            message = await receive()
            if message['type'] == 'http.disconnect':
                self.body_disconnects += 1
                return
            if not message.get('more_body'):
                break
        await self.respond(send, 200, b'{}', [(b'content-type', b'application/json')])

    async def route_slow(self, _scope, _receive, send):
        await asyncio.sleep(3)
        await self.respond(send, 200, b'late')

    async def route_truncated(self, _scope, _receive, send):
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-length', b'100000')]})
        await send({'type': 'http.response.body', 'body': b'x' * 1000, 'more_body': True})
        raise RuntimeError('upstream dies mid-body (on purpose)')

    async def route_noisy_headers(self, _scope, _receive, send):
        await self.respond(
            send,
            200,
            b'{}',
            [
                (b'content-type', b'application/json'),
                (b'content-security-policy', b'default-src *'),
                (b'service-worker-allowed', b'/'),
                (b'clear-site-data', b'"storage", "cache", "executionContexts"'),
                (b'nel', b'{"report_to":"r","max_age":31536000,"success_fraction":1.0}'),
                (b'report-to', b'{"group":"r","max_age":31536000,"endpoints":[{"url":"https://elsewhere.example/r"}]}'),
                (b'set-cookie', b'pad=' + b'x' * 4000 + b'; Path=/; Max-Age=31536000'),
                (b'x-powered-by', b'Express'),
                (b'connection', b'x-hop-secret'),
                (b'x-hop-secret', b'1'),
                (b'keep-alive', b'timeout=5'),
                (b'x-end-to-end', b'kept'),
            ],
        )

    async def route_status(self, scope, _receive, send):
        code = int(scope['path'].rsplit('/', 1)[-1])
        await self.respond(
            send, code, b'{"error":"teapot","message":"short and stout"}', [(b'content-type', b'application/json')]
        )

    async def route_redirect(self, _scope, _receive, send):
        await self.respond(send, 302, b'', [(b'location', b'/elsewhere')])

    async def websocket(self, scope, receive, send):
        await receive()  # websocket.connect
        if scope['path'] == '/ws-deny':
            await send(
                {
                    'type': 'websocket.http.response.start',
                    'status': 403,
                    'headers': [(b'content-type', b'application/json')],
                }
            )
            await send({'type': 'websocket.http.response.body', 'body': b'{"error":"forbidden"}'})
            return
        offered = scope.get('subprotocols') or []
        await send({'type': 'websocket.accept', 'subprotocol': offered[0] if offered else None})
        headers = self.headers_of(scope)
        hello = {
            'path': scope['path'],
            'origin': headers.get('origin', [None])[0],
            'subprotocols': offered,
            'x-forwarded-for': headers.get('x-forwarded-for'),
            'x-forwarded-proto': headers.get('x-forwarded-proto'),
            'cookie': headers.get('cookie'),
        }
        await send({'type': 'websocket.send', 'text': json.dumps(hello)})
        while True:
            message = await receive()
            if message['type'] == 'websocket.disconnect':
                self.ws_client_closes.append((message.get('code'), message.get('reason') or ''))
                self.ws_closed.set()
                return
            text = message.get('text')
            if text and text.startswith('close:'):
                _, code, reason = text.split(':', 2)
                await send({'type': 'websocket.close', 'code': int(code), 'reason': reason})
                return
            if text == 'crash':
                raise RuntimeError('upstream websocket handler crashes (on purpose)')
            if text is not None:
                await send({'type': 'websocket.send', 'text': text})
            else:
                await send({'type': 'websocket.send', 'bytes': message['bytes']})
