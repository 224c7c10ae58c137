"""Streaming HTTP forward of /api/* to the relay, as a raw ASGI app.

It runs in front of Django because Django's ASGI handler reads a whole request body before a
view runs; here each chunk goes to the relay as it arrives and each response chunk goes to the
browser as it arrives, so a 25 MiB encrypted photo is never held in memory.

Which way a request goes to the relay:
- no body: a pooled keep-alive connection (httpx);
- a small body (Content-Length ≤ SMALL_BODY_BYTES: every JSON route): read whole first, under
  the body deadlines, then sent on a pooled connection — a stalled body never holds one;
- a larger or chunked body (photos): its own connection (host/upstream_body.py), streamed, with
  the relay's early answer passed on at once.
"""

from __future__ import annotations

import asyncio
import json
import logging

import httpx

from host.config import HostConfig
from host.forwarding import request_headers, response_headers, upstream_target
from host.headers import api_security_header_pairs
from host.upstream_body import Answer, BodyExchange, BodyTimeout, ClientGone, UpstreamFailed, read_small_body

log = logging.getLogger('host.proxy')


def is_secure(scope: dict) -> bool:
    return scope.get('scheme') in ('https', 'wss')


async def send_json_error(
    send, scope: dict, status: int, code: str, message: str, *, close: bool = False, extra_headers=()
) -> None:
    """`close`: the request's body was not (or cannot be) read to its end, so the connection
    must not carry another request."""
    body = json.dumps({'error': code, 'message': message}).encode()
    await send(
        {
            'type': 'http.response.start',
            'status': status,
            'headers': [
                (b'content-type', b'application/json'),
                (b'content-length', str(len(body)).encode()),
                (b'cache-control', b'no-store'),
                *([(b'connection', b'close')] if close else []),
                *extra_headers,
                *api_security_header_pairs(is_secure(scope)),
            ],
        }
    )
    await send({'type': 'http.response.body', 'body': body})


# Above the relay's largest JSON body (a message: 64 KiB of ciphertext as base64, plus fields).
SMALL_BODY_BYTES = 256 * 1024


def _content_length(scope: dict) -> int | None:
    for name, value in scope.get('headers', []):
        if name == b'content-length' and value.strip().isdigit():
            return int(value)
    return None


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
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=min(50, config.max_connections),
            ),
        )
        self.body_slots = asyncio.Semaphore(config.max_connections)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __call__(self, scope: dict, receive, send) -> None:
        content: bytes | None = None
        if _has_body(scope):
            length = _content_length(scope)
            if length is None or length > SMALL_BODY_BYTES:
                await self._forward_with_body(scope, receive, send)
                return
            try:
                content = await read_small_body(receive, self.config)
            except ClientGone:
                return
            except BodyTimeout:
                await send_json_error(
                    send, scope, 408, 'request_timeout', 'the request body stalled or took too long', close=True
                )
                return
        disconnected = asyncio.Event()
        request = self.client.build_request(
            scope['method'],
            # An absolute URL on the relay's origin: no base-URL merging that could reinterpret
            # "//host/..." as another host or drop a path segment.
            self.relay.copy_with(raw_path=upstream_target(scope)),
            headers=request_headers(scope),
            content=content,
        )
        try:
            response = await self.client.send(request, stream=True)
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
                    'headers': response_headers(response.headers.raw) + api_security_header_pairs(is_secure(scope)),
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

    async def _forward_with_body(self, scope: dict, receive, send) -> None:
        try:
            await asyncio.wait_for(self.body_slots.acquire(), self.config.connect_timeout)
        except TimeoutError:
            await send_json_error(send, scope, 503, 'overloaded', 'too many uploads in progress; try again', close=True)
            return
        exchange = BodyExchange(
            self.config,
            self.relay.host,
            self.relay.port or (443 if self.relay.scheme == 'https' else 80),
            self.relay.scheme == 'https',
        )
        try:
            try:
                answer = await exchange.start(scope['method'], upstream_target(scope), request_headers(scope), receive)
            except ClientGone:
                return
            except BodyTimeout:
                await send_json_error(
                    send, scope, 408, 'request_timeout', 'the request body stalled or took too long', close=True
                )
                return
            except UpstreamFailed as exc:
                log.warning(
                    'relay %s: %s %s (%s)',
                    'timed out' if exc.timeout else 'unreachable',
                    scope['method'],
                    scope['path'],
                    exc,
                )
                if exc.timeout:
                    await send_json_error(
                        send, scope, 504, 'gateway_timeout', 'the relay did not answer in time', close=True
                    )
                else:
                    await send_json_error(send, scope, 502, 'bad_gateway', 'the relay is not reachable', close=True)
                return
            await self._send_answer(scope, send, exchange, answer)
        finally:
            await exchange.close()
            self.body_slots.release()

    async def _send_answer(self, scope: dict, send, exchange: BodyExchange, answer: Answer) -> None:
        headers = response_headers(answer.headers) + api_security_header_pairs(is_secure(scope))
        if not answer.body_consumed:
            headers.append((b'connection', b'close'))
        await send({'type': 'http.response.start', 'status': answer.status, 'headers': headers})
        try:
            async for chunk in exchange.body():
                await send({'type': 'http.response.body', 'body': chunk, 'more_body': True})
        except UpstreamFailed as exc:
            # As in __call__: the status line is out, so cut the connection.
            log.warning('relay response broke off: %s %s (%s)', scope['method'], scope['path'], exc)
            raise
        await send({'type': 'http.response.body', 'body': b'', 'more_body': False})

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
