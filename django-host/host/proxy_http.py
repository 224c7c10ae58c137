"""Streaming HTTP forward of /api/* to the relay, as a raw ASGI app.

It runs in front of Django because Django's ASGI handler reads a whole request body before a
view runs; here each chunk goes to the relay as it arrives and each response chunk goes to the
browser as it arrives, so a 25 MiB encrypted photo is never held in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httpx

from host.config import HostConfig
from host.forwarding import request_headers, response_headers, upstream_target
from host.headers import security_header_pairs

log = logging.getLogger('host.proxy')


class ClientGone(Exception):
    """The browser disconnected while its request body was still arriving."""


def is_secure(scope: dict) -> bool:
    return scope.get('scheme') in ('https', 'wss')


async def send_json_error(send, scope: dict, status: int, code: str, message: str) -> None:
    body = json.dumps({'error': code, 'message': message}).encode()
    await send(
        {
            'type': 'http.response.start',
            'status': status,
            'headers': [
                (b'content-type', b'application/json'),
                (b'content-length', str(len(body)).encode()),
                (b'cache-control', b'no-store'),
                *security_header_pairs(is_secure(scope)),
            ],
        }
    )
    await send({'type': 'http.response.body', 'body': body})


def _has_body(scope: dict) -> bool:
    for name, value in scope.get('headers', []):
        if name == b'transfer-encoding':
            return True
        if name == b'content-length':
            return value.strip() not in (b'', b'0')
    return False


class HttpForward:
    def __init__(self, config: HostConfig) -> None:
        self.config = config
        self.relay = httpx.URL(config.relay_url)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=config.connect_timeout,
                read=config.read_timeout,
                write=config.read_timeout,
                pool=config.connect_timeout,
            ),
            # Redirects belong to the browser; cookies are the browser's, never kept here.
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __call__(self, scope: dict, receive, send) -> None:
        disconnected = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message['type'] == 'http.disconnect':
                    disconnected.set()
                    raise ClientGone
                chunk = message.get('body', b'')
                if chunk:
                    yield chunk
                if not message.get('more_body', False):
                    return

        request = self.client.build_request(
            scope['method'],
            # An absolute URL on the relay's origin: no base-URL merging that could reinterpret
            # "//host/..." as another host or drop a path segment.
            self.relay.copy_with(raw_path=upstream_target(scope)),
            headers=request_headers(scope),
            content=body() if _has_body(scope) else None,
        )
        try:
            response = await self.client.send(request, stream=True)
        except ClientGone:
            return
        except httpx.TimeoutException:
            log.warning('relay timed out: %s %s', scope['method'], scope['path'])
            await send_json_error(send, scope, 504, 'gateway_timeout', 'the relay did not answer in time')
            return
        except httpx.TransportError as exc:
            log.warning('relay unreachable: %s %s (%s)', scope['method'], scope['path'], type(exc).__name__)
            await send_json_error(send, scope, 502, 'bad_gateway', 'the relay is not reachable')
            return

        watcher = asyncio.create_task(self._watch_disconnect(receive, disconnected))
        try:
            await send(
                {
                    'type': 'http.response.start',
                    'status': response.status_code,
                    'headers': response_headers(response.headers.raw) + security_header_pairs(is_secure(scope)),
                }
            )
            # Raw bytes: Content-Encoding and Content-Length pass through unchanged.
            async for chunk in response.aiter_raw():
                if disconnected.is_set():
                    return
                await send({'type': 'http.response.body', 'body': chunk, 'more_body': True})
            await send({'type': 'http.response.body', 'body': b'', 'more_body': False})
        except httpx.TransportError as exc:
            # The status line is already sent, so the only honest signal left is to cut the
            # connection: raising makes the ASGI server close it without a clean end of body.
            log.warning('relay response broke off: %s %s (%s)', scope['method'], scope['path'], type(exc).__name__)
            raise
        finally:
            watcher.cancel()
            await response.aclose()

    @staticmethod
    async def _watch_disconnect(receive, disconnected: asyncio.Event) -> None:
        # After the request body is consumed the only message left is http.disconnect; noticing
        # it stops us streaming the rest of a large download into a closed socket.
        if disconnected.is_set():
            return
        while True:
            message = await receive()
            if message['type'] == 'http.disconnect':
                disconnected.set()
                return
